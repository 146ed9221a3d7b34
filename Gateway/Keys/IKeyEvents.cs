using Gateway.Domain;

namespace Gateway.Keys;

/// <summary>
/// Told about each key change after it is stored (webhooks listen here), so every path that changes a key
/// (admin API, secret-scanning reports, the CLI) announces it the same way. the action is the
/// audit action (<c>key.create</c>, <c>key.rotate</c>, <c>key.revoke</c>, <c>key.deactivate</c>, <c>key.leaked</c>, ...).
/// A listener must not throw: the change has already happened.
/// </summary>
internal interface IKeyEvents
{
    Task KeyChangedAsync(string action, ApiKeyRecord key, CancellationToken cancellationToken);
}
