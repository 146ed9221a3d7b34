using Gateway.Domain;
using Gateway.Stores;

namespace Gateway.Tests.Common;

/// <summary>
/// Wraps a real store; while <see cref="FailAfterWrite"/> is set, a key update is applied and then the
/// call fails as if the store had answered too late (after running <see cref="AfterWrite"/>, e.g. to
/// freeze Redis), the way a revoke can land while its admin call fails.
/// </summary>
public sealed class FailingWriteStore(IGatewayStore inner) : DelegatingGatewayStore(inner)
{
    public bool FailAfterWrite { get; set; }

    public Action? AfterWrite { get; set; }

    public override async Task UpdateKeyAsync(ApiKeyRecord key, long expectedVersion, AuditEntry audit, CancellationToken cancellationToken)
    {
        await Inner.UpdateKeyAsync(key, expectedVersion, audit, cancellationToken);
        if (FailAfterWrite)
        {
            AfterWrite?.Invoke();
            throw new StoreUnavailableException("The store did not answer in time.", new TimeoutException());
        }
    }
}
