using Gateway.Domain;

namespace Gateway.Auth;

/// <summary>The authenticated key of the current proxied request, for the stages after authentication.</summary>
public interface IApiKeyFeature
{
    ApiKeyRecord Key { get; }
}

internal sealed class ApiKeyFeature(ApiKeyRecord key, DateTimeOffset authenticatedAt) : IApiKeyFeature
{
    public ApiKeyRecord Key { get; } = key;

    /// <summary>When the key was judged valid: the request's time for usage counting, without another clock read.</summary>
    public DateTimeOffset AuthenticatedAt { get; } = authenticatedAt;
}
