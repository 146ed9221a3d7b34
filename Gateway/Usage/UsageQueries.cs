namespace Gateway.Usage;

internal enum UsageGranularity
{
    Minute,
    Hour,
    Day,
}

/// <summary>Counts of one interval (or one subject over the whole range), by outcome.</summary>
internal sealed class UsageTally
{
    public long[] Counts { get; } = new long[UsageOutcomes.Count];

    public long Total => Counts.Sum();

    public void Add(int outcome, long count) => Counts[outcome] += count;
}

/// <summary>A usage answer: every interval of the range (empty ones included, so charts need no gap filling) and totals per subject.</summary>
internal sealed record UsageReport(
    DateTimeOffset From,
    DateTimeOffset To,
    UsageGranularity Granularity,
    UsageTally Totals,
    IReadOnlyList<(DateTimeOffset Start, UsageTally Tally)> Intervals,
    IReadOnlyDictionary<string, UsageTally> BySubject);

/// <summary>
/// Answers usage questions from the store plus this instance's counts not yet flushed, so a request
/// just served shows up at once on the instance that served it.
/// </summary>
internal sealed class UsageQueries(IUsageStore store, UsageCounters counters)
{
    /// <summary>The most intervals one answer may hold.</summary>
    public const int MaxIntervals = 10_000;

    public static TimeSpan Width(UsageGranularity granularity) => granularity switch
    {
        UsageGranularity.Minute => TimeSpan.FromMinutes(1),
        UsageGranularity.Hour => TimeSpan.FromHours(1),
        _ => TimeSpan.FromDays(1),
    };

    public static DateTimeOffset Floor(DateTimeOffset value, UsageGranularity granularity)
    {
        var ticks = value.UtcTicks;
        return new DateTimeOffset(ticks - (ticks % Width(granularity).Ticks), TimeSpan.Zero);
    }

    public static DateTimeOffset Ceiling(DateTimeOffset value, UsageGranularity granularity)
    {
        var floor = Floor(value, granularity);
        return floor == value ? floor : floor + Width(granularity);
    }

    /// <param name="subjects">Key ids or route ids; null for every route.</param>
    public async Task<UsageReport> ReadAsync(UsageSubjectKind kind, IReadOnlyCollection<string>? subjects, DateTimeOffset from, DateTimeOffset to, UsageGranularity granularity, CancellationToken cancellationToken)
    {
        from = Floor(from, granularity);
        to = Ceiling(to, granularity);
        var width = Width(granularity);
        var intervals = new List<(DateTimeOffset, UsageTally)>();
        for (var start = from; start < to; start += width)
        {
            intervals.Add((start, new UsageTally()));
        }

        var totals = new UsageTally();
        var bySubject = new Dictionary<string, UsageTally>(StringComparer.Ordinal);
        foreach (var subject in subjects ?? [])
        {
            bySubject[subject] = new UsageTally();
        }

        void Add(string subject, DateTimeOffset start, int outcome, long count)
        {
            var index = (int)((start - from).Ticks / width.Ticks);
            if (outcome < 0 || count == 0 || index < 0 || index >= intervals.Count)
            {
                return;
            }

            intervals[index].Item2.Add(outcome, count);
            totals.Add(outcome, count);
            if (!bySubject.TryGetValue(subject, out var tally))
            {
                bySubject[subject] = tally = new UsageTally();
            }

            tally.Add(outcome, count);
        }

        var wanted = subjects as IReadOnlySet<string> ?? subjects?.ToHashSet(StringComparer.Ordinal);
        // Not during a flush, whose drained counts are neither in the store nor in the counters until it ends.
        await counters.HandOver.WaitAsync(cancellationToken);
        try
        {
            foreach (var row in await store.ReadAsync(kind, subjects, from, to, cancellationToken))
            {
                Add(row.Subject, row.Start, UsageOutcomes.IndexOf(row.Outcome), row.Count);
            }

            foreach (var pending in counters.Snapshot())
            {
                if (pending.Kind != kind || (wanted is not null && !wanted.Contains(pending.Subject)))
                {
                    continue;
                }

                for (var i = 0; i < pending.Counts.Length; i++)
                {
                    Add(pending.Subject, pending.Start, i, pending.Counts[i]);
                }
            }
        }
        finally
        {
            counters.HandOver.Release();
        }

        return new UsageReport(from, to, granularity, totals, intervals, bySubject);
    }
}
