using System.Collections.Concurrent;
using Gateway.Auth;
using Gateway.Http;

namespace Gateway.Usage;

/// <summary>
/// In-process request counters per subject, minute and outcome. A request costs one interlocked
/// increment, no lock and no store call, and usually no dictionary lookup either (see
/// <see cref="LastBucket"/>); <see cref="UsageFlusher"/> drains the counters into the store in batches.
/// </summary>
/// <remarks>
/// The first count into a bucket since the last drain queues the bucket, so a drain visits only the
/// buckets that have counts: with 100,000 keys in use the counters hold about three minutes of buckets,
/// 300,000 arrays, and walking them all every flush cost more than the requests' own counting
/// (bench/Gateway.Benchmarks UsageCountersBenchmarks). Idle buckets are still dropped by a walk, once a minute.
/// </remarks>
internal sealed class UsageCounters(TimeProvider time)
{
    // Buckets older than this many minutes are dropped once they hold nothing: no request can still be counting into them.
    private const long IdleMinutesBeforeRemoval = 2;

    // A bucket's array holds one count per outcome, then this flag: 1 while the bucket is queued for the next drain.
    private static readonly int Queued = UsageOutcomes.Count;

    // The bucket this thread counted into last. A kept-alive client sends request after request with one
    // key, so most requests find their counts here by reference instead of hashing the subject and org
    // id into the dictionary. An array that Drain removed is never found again: removal waits until its
    // minute is two minutes past, counting uses the current minute, and the minute is part of the match.
    [ThreadStatic]
    private static LastBucket? t_last;

    private readonly ConcurrentDictionary<Bucket, long[]> _buckets = new();
    private readonly ConcurrentQueue<(Bucket Bucket, long[] Counts)> _queued = new();
    private long _sweptMinute;

    /// <summary>Counts a finished proxy request under its key, or under its route when no key was identified.</summary>
    public void Record(HttpContext context)
    {
        int outcome;
        if (context.Feature<ProblemCodeFeature>() is { Code: { } code })
        {
            outcome = UsageOutcomes.IndexOf(code);
            if (outcome < 0)
            {
                return;
            }
        }
        else
        {
            outcome = context.Response.StatusCode >= StatusCodes.Status500InternalServerError ? UsageOutcomes.Upstream5xxIndex : UsageOutcomes.AllowedIndex;
        }

        var key = context.Feature<IApiKeyFeature>()?.Key ?? context.Feature<RefusedKeyFeature>()?.Key;
        if (key is not null)
        {
            Add(UsageSubjectKind.Key, key.Id, key.OrgId, outcome);
        }
        else
        {
            Add(UsageSubjectKind.Route, context.ProxyFeature().Route.Config.RouteId, null, outcome);
        }
    }

    public void Add(UsageSubjectKind kind, string subject, string? orgId, int outcome, long count = 1)
    {
        // The minute the request finished, not when it was let in: a bucket is removed once its minute is
        // two minutes past, and a long request must not count into a bucket that is gone.
        var minute = time.GetUtcNow().UtcTicks / TimeSpan.TicksPerMinute;
        var last = t_last;
        if (last is null || !ReferenceEquals(last.Owner, this) || last.Bucket.Kind != kind || last.Bucket.Minute != minute
            || !ReferenceEquals(last.Bucket.Subject, subject) || !ReferenceEquals(last.Bucket.OrgId, orgId))
        {
            var bucket = new Bucket(kind, subject, orgId, minute);
            (last = t_last ??= new LastBucket()).Set(this, bucket, CountsOf(bucket));
        }

        Add(last.Bucket, last.Counts, outcome, count);
    }

    /// <summary>Takes every count recorded since the last drain; the counters keep running meanwhile.</summary>
    public List<UsageRecord> Drain()
    {
        // Only the buckets queued when the drain began: one counted again meanwhile is queued anew, for the next drain.
        var queued = _queued.Count;
        var batch = new List<UsageRecord>(queued);
        for (var n = 0; n < queued && _queued.TryDequeue(out var entry); n++)
        {
            var (bucket, counts) = entry;

            // Unflagged before the counts are taken: a count added after this queues the bucket again
            // (whether or not this drain took it), so none is left behind unqueued.
            Interlocked.Exchange(ref counts[Queued], 0);
            long[]? taken = null;
            for (var i = 0; i < Queued; i++)
            {
                if (Volatile.Read(ref counts[i]) != 0)
                {
                    taken ??= new long[Queued];
                    taken[i] = Interlocked.Exchange(ref counts[i], 0);
                }
            }

            if (taken is not null)
            {
                batch.Add(new UsageRecord(bucket.Kind, bucket.Subject, bucket.OrgId, new DateTimeOffset(bucket.Minute * TimeSpan.TicksPerMinute, TimeSpan.Zero), taken));
            }
        }

        RemoveIdle();
        return batch;
    }

    /// <summary>Puts back a batch the store did not take, so the next flush retries it.</summary>
    public void Restore(IEnumerable<UsageRecord> batch)
    {
        foreach (var record in batch)
        {
            var bucket = new Bucket(record.Kind, record.Subject, record.OrgId, record.Start.UtcTicks / TimeSpan.TicksPerMinute);
            var counts = CountsOf(bucket);
            for (var i = 0; i < record.Counts.Length; i++)
            {
                if (record.Counts[i] != 0)
                {
                    Add(bucket, counts, i, record.Counts[i]);
                }
            }
        }
    }

    /// <summary>Counts not yet flushed, for the admin API to add to what the store holds.</summary>
    public IEnumerable<UsageRecord> Snapshot() => _buckets.Select(pair => new UsageRecord(
        pair.Key.Kind, pair.Key.Subject, pair.Key.OrgId, new DateTimeOffset(pair.Key.Minute * TimeSpan.TicksPerMinute, TimeSpan.Zero),
        pair.Value.Take(Queued).Select(c => Volatile.Read(ref c)).ToArray()));

    /// <summary>Buckets held right now (for tests).</summary>
    internal int BucketCount => _buckets.Count;

    /// <summary>The bucket's array: a count per outcome, then the queued flag.</summary>
    private long[] CountsOf(Bucket bucket) => _buckets.GetOrAdd(bucket, static _ => new long[Queued + 1]);

    private void Add(Bucket bucket, long[] counts, int outcome, long count)
    {
        Interlocked.Add(ref counts[outcome], count);
        if (Volatile.Read(ref counts[Queued]) == 0 && Interlocked.CompareExchange(ref counts[Queued], 1, 0) == 0)
        {
            _queued.Enqueue((bucket, counts));
        }
    }

    /// <summary>Once a minute, drops the buckets of minutes no request counts into any more that hold nothing.</summary>
    private void RemoveIdle()
    {
        var currentMinute = time.GetUtcNow().UtcTicks / TimeSpan.TicksPerMinute;
        if (currentMinute == _sweptMinute)
        {
            return;
        }

        _sweptMinute = currentMinute;
        foreach (var (bucket, counts) in _buckets)
        {
            if (bucket.Minute < currentMinute - IdleMinutesBeforeRemoval && Volatile.Read(ref counts[Queued]) == 0)
            {
                _buckets.TryRemove(bucket, out _);
            }
        }
    }

    private readonly record struct Bucket(UsageSubjectKind Kind, string Subject, string? OrgId, long Minute);

    /// <summary>
    /// A thread's last bucket, its strings compared by reference rather than by <see cref="Bucket"/>'s value
    /// equality. Only ever read and written by its own thread, and overwritten rather than replaced, so a
    /// thread serving many keys does not allocate one per request.
    /// </summary>
    private sealed class LastBucket
    {
        public UsageCounters? Owner;
        public Bucket Bucket;
        public long[] Counts = [];

        public void Set(UsageCounters owner, Bucket bucket, long[] counts)
        {
            Owner = owner;
            Bucket = bucket;
            Counts = counts;
        }
    }
}
