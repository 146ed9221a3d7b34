namespace Gateway.Http;

/// <summary>Marks an endpoint as served only on the admin listener.</summary>
internal sealed class AdminListenerMetadata
{
    public static readonly AdminListenerMetadata Instance = new();
}
