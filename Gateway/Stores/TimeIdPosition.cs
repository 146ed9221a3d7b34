namespace Gateway.Stores;

/// <summary>
/// An item's place in a list ordered by creation time (whole milliseconds, as both stores keep it) and then id
/// (ordinal): the sort key a cursor names for operator tokens, webhooks and deliveries.
/// </summary>
internal sealed record TimeIdPosition(long AtMillis, string Id)
{
    public static TimeIdPosition Of(DateTimeOffset at, string id) => new(at.ToUnixTimeMilliseconds(), id);

    /// <summary>Where (<paramref name="at"/>, <paramref name="id"/>) sorts against this place: negative before, positive after.</summary>
    public int CompareTo(DateTimeOffset at, string id)
    {
        var byTime = at.ToUnixTimeMilliseconds().CompareTo(AtMillis);
        return byTime != 0 ? byTime : string.CompareOrdinal(id, Id);
    }
}
