namespace Gateway.Tests.Common;

/// <summary>Which store a <see cref="GatewayHost"/> runs on; end-to-end fixtures run once per kind.</summary>
public enum StoreKind
{
    Sqlite,
    Redis,
}

public static class StoreKinds
{
    /// <summary>For <c>[TestFixtureSource(typeof(StoreKinds), nameof(StoreKinds.All))]</c>.</summary>
    public static readonly object[] All = [StoreKind.Sqlite, StoreKind.Redis];
}
