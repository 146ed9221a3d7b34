namespace Gateway.Usage;

/// <summary>Whose requests a counter holds: one key's, or a route's requests that carried no known key.</summary>
public enum UsageSubjectKind
{
    Key,
    Route,
}

/// <summary>Counts of one subject for one interval, indexed like <see cref="UsageOutcomes.All"/>.</summary>
/// <param name="OrgId">The key's organization; null for routes.</param>
public sealed record UsageRecord(UsageSubjectKind Kind, string Subject, string? OrgId, DateTimeOffset Start, long[] Counts)
{
    /// <summary>
    /// This process already handed the store counts of the same subject and hour in full in an earlier batch, that
    /// minute or less than ten minutes before: a store may skip what it does once per subject and hour (Redis: the
    /// hash's expiry and the hour indexes). Counts of a batch the store refused come back without it, so that minute is
    /// written in full again. False unless the gateway's counters know it, so a record made elsewhere gets the full write.
    /// </summary>
    public bool Continued { get; init; }
}

/// <summary>One stored count: a subject, the start of its interval (a minute, or an hour once rolled up), an outcome.</summary>
public readonly record struct UsageRow(string Subject, DateTimeOffset Start, string Outcome, long Count);
