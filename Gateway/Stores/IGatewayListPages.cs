using Gateway.Domain;

namespace Gateway.Stores;

/// <summary>
/// Pages of the gateway store's lists, read in the store: an organization with tens of thousands of keys is not read
/// whole for a page of 100. Each page starts after a sort key, not at an offset, so items created or deleted between
/// two pages make neither repeat nor skip one that existed throughout. Implemented by both stores; a host's own
/// <see cref="IGatewayStore"/> without it is listed whole and cut by the admin API.
/// </summary>
internal interface IGatewayListPages
{
    /// <summary>At most <paramref name="count"/> organizations (null: all) by id (ordinal), those after <paramref name="afterId"/> only.</summary>
    Task<IReadOnlyList<Organization>> ListOrganizationsAfterAsync(string? afterId, int? count, CancellationToken cancellationToken);

    /// <summary>
    /// At most <paramref name="count"/> keys of the organization (null: all) in the order of
    /// <see cref="IGatewayStore.ListKeysAsync"/> (created, then id), those after <paramref name="after"/> only.
    /// </summary>
    Task<IReadOnlyList<ApiKeyRecord>> ListKeysAfterAsync(string orgId, KeyListPosition? after, int? count, CancellationToken cancellationToken);
}

/// <summary>A key's place in its organization's list: its creation time (whole milliseconds, as stored) and its id.</summary>
internal sealed record KeyListPosition(long CreatedAtMillis, string Id)
{
    public static KeyListPosition Of(ApiKeyRecord key) => new(key.CreatedAt.ToUnixTimeMilliseconds(), key.Id);

    /// <summary>Whether <paramref name="key"/> comes after this place in the list.</summary>
    public bool Precedes(ApiKeyRecord key)
    {
        var at = key.CreatedAt.ToUnixTimeMilliseconds();
        return at > CreatedAtMillis || (at == CreatedAtMillis && string.CompareOrdinal(key.Id, Id) > 0);
    }
}
