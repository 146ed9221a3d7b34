namespace Gateway.Configuration;

/// <summary><c>Gateway:Signing</c>: the secrets that sign identity headers for upstreams.</summary>
public sealed class SigningOptions
{
    /// <summary>The first entry signs; the others are kept so upstreams can be moved to a new secret without a gap.</summary>
    public List<SigningSecret> Secrets { get; set; } = [];
}

public sealed class SigningSecret
{
    /// <summary>Sent as <c>kid</c> so the upstream knows which secret to verify with.</summary>
    public string Id { get; set; } = "";

    public string Secret { get; set; } = "";
}
