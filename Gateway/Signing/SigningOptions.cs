namespace Gateway.Signing;

/// <summary><c>Gateway:Signing</c>: the secrets that sign identity headers for upstreams, and what the signature covers.</summary>
public sealed class SigningOptions
{
    /// <summary>Bound by the signing feature itself, next to the <c>Gateway</c> section's other settings.</summary>
    internal const string SectionName = "Gateway:Signing";

    /// <summary>The default <see cref="MaxDigestBytes"/>: 64 KiB, buffered per request at most.</summary>
    public const long DefaultMaxDigestBytes = 64 * 1024;

    /// <summary>The first entry signs; the others are kept so upstreams can be moved to a new secret without a gap.</summary>
    public List<SigningSecret> Secrets { get; set; } = [];

    /// <summary>
    /// Which signatures the header carries: <c>v1</c> (the shared secret's, the default), <c>v1,v2</c> (both, while
    /// upstreams move to their cluster keys) or <c>v2</c> (cluster keys only). A string rather than a list: the
    /// configuration binder adds a bound list to a default list instead of replacing it.
    /// </summary>
    public string Versions { get; set; } = "v1";

    /// <summary>
    /// Version 2: a body of known length up to this many bytes is buffered and covered through <c>Content-Digest</c>;
    /// longer or chunked bodies are signed as not covered. 0: no body is covered.
    /// </summary>
    public long MaxDigestBytes { get; set; } = DefaultMaxDigestBytes;
}

public sealed class SigningSecret
{
    /// <summary>Sent as <c>kid</c> so the upstream knows which secret (or, in version 2, which derived key) to verify with.</summary>
    public string Id { get; set; } = "";

    public string Secret { get; set; } = "";
}
