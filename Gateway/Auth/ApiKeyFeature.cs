using Gateway.Domain;

namespace Gateway.Auth;

/// <summary>The authenticated key of the current proxied request, for the stages after authentication.</summary>
public interface IApiKeyFeature
{
    /// <summary>The key as the key cache holds it: what a request needs of it (the admin API serves the full record).</summary>
    CachedKey Key { get; }
}

internal sealed class ApiKeyFeature(CachedKey key) : IApiKeyFeature
{
    public CachedKey Key { get; } = key;
}
