namespace Gateway.Stores;

/// <summary>
/// Which store the gateway runs on, decided once at start by <c>AddGatewayStores</c> from <c>Gateway:Store:Redis</c>.
/// A feature with storage of its own registers it through <c>TryAddFeatureStore</c> or <c>AddFeatureStore</c>, so no
/// feature reads the setting or takes a flag for it.
/// </summary>
internal enum GatewayStoreKind
{
    Sqlite,
    Redis,
}

/// <summary>The store kind as recorded in the service collection (and resolvable from the container).</summary>
internal sealed record StoreSelection(GatewayStoreKind Kind);
