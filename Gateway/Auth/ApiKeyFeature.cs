using Gateway.Domain;

namespace Gateway.Auth;

/// <summary>The authenticated key of the current proxied request, for the stages after authentication.</summary>
public interface IApiKeyFeature
{
    ApiKeyRecord Key { get; }
}

internal sealed class ApiKeyFeature(ApiKeyRecord key) : IApiKeyFeature
{
    public ApiKeyRecord Key { get; } = key;
}
