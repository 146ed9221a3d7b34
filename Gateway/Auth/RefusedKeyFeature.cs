using Gateway.Domain;

namespace Gateway.Auth;

/// <summary>
/// A key that was found but refused (revoked, expired, inactive, wrong environment, missing scope):
/// its owner should see those refusals in their usage although the request never authenticated.
/// </summary>
internal sealed class RefusedKeyFeature(CachedKey key)
{
    public CachedKey Key { get; } = key;
}
