using System.Collections.Concurrent;
using Gateway.Configuration;
using Gateway.Observability;
using Gateway.Stores;
using Microsoft.Extensions.Options;

namespace Gateway.RateLimiting;

/// <summary>
/// Limits shared by every instance on one Redis, without a Redis call per request. Each partition is
/// one small Redis hash of per-bucket counts (60 buckets per window, so its size does not depend on the
/// limit), and each instance holds a lease on it: a batch of permits charged in Redis to the current
/// bucket (far from the limit, to a later one: see <see cref="LeaseAhead"/>), handed out locally until
/// that bucket ends, and given back if unused. Leases are sized from
/// the instance's recent rate (doubling while they run out early), capped at a quarter of what is
/// left, and shrink to single permits when 64 or fewer are left, so instances never strand much of a
/// limit. Because a permit is charged in Redis before it is used, and counted from then until the bucket it
/// was charged to leaves the window (it is never used after that bucket ends), N instances together never
/// accept more than the limit in any window; the script
/// reads Redis's clock, so instance clocks do not matter. Every script touches one key, whose name
/// carries its own hash tag, so partitions spread over a Redis Cluster's slots. The name holds the window too (bucket
/// ids are Redis time over a sixtieth of the window, so counts made under another window would be misread: a shorter
/// one's buckets lie far in a longer one's future and never left it): a changed window is a fresh count in a hash
/// of its own, as on the embedded store, and a changed limit alone keeps the count.
/// When Redis does not answer, the per-instance counter takes over (never "no limits").
/// A client IP past the per-instance exact set is judged by the per-instance guard's sketch alone, with
/// no lease and no Redis key, so a flood of distinct addresses grows neither this instance's leases nor
/// Redis; once the sketch promotes it (half its limit) it gets a lease whose first trip charges what the
/// sketch had counted, so the shared count starts from there.
/// </summary>
internal sealed partial class RedisRateLimitCounter : IRateLimitCounter, IDisposable
{
    /// <summary>
    /// Buckets past the current one a grant may be charged to while the partition has used at most a sixteenth of its
    /// limit (the script decides; up to half of it, four buckets), so a lease lasts up to half a window instead of to
    /// the end of the current one. Each such permit stays counted that much longer than its request needs, which can
    /// make the limit stricter after a quiet stretch, by at most the sixteenth (four buckets ahead: the half) and for
    /// at most that long, never looser.
    /// </summary>
    private const int LeaseAhead = 30;

    private static readonly TimeSpan RetryRedisAfter = TimeSpan.FromSeconds(1);
    private static readonly TimeSpan SlowTrips = TimeSpan.FromMilliseconds(250);

    private readonly ISharedLimitStore _store;
    private readonly LocalRateLimitCounter _local;
    private readonly ILogger<RedisRateLimitCounter> _logger;
    private readonly ConcurrentDictionary<LimitSpec, RedisLease> _leases = new();
    private readonly RedisLeaseSweeper _sweeper;
    private readonly GatewayMetrics? _metrics;
    private readonly long _tripDeadlineMs;
    private long _redisDownUntil;

    public RedisRateLimitCounter(ISharedLimitStore store, LocalRateLimitCounter local, IOptions<GatewayOptions> options, ILogger<RedisRateLimitCounter> logger, GatewayMetrics? metrics = null)
    {
        _store = store;
        _local = local;
        _logger = logger;
        _metrics = metrics;
        _tripDeadlineMs = (long)Math.Max(SlowTrips.TotalMilliseconds, options.Value.Store.Timeout.TotalMilliseconds);
        _sweeper = new RedisLeaseSweeper(_leases, ReturnAsync);
    }

    /// <summary>Leases held right now (for tests and the bench).</summary>
    public int LeaseCount => _leases.Count;

    private static long NowMs => RedisLease.NowMs;

    /// <summary>
    /// Every call that touches a batch is done when the request's limit stages are: a decision that waits for Redis
    /// is awaited by the request, and a deferred IP permit is charged in the background from its lease, not the batch.
    /// So, as on the embedded store, a kept-alive connection reuses one feature (661 B per request otherwise).
    /// </summary>
    public bool HoldsBatches => false;

    public IpDecision AcquireIp(LimitBatch batch)
    {
        // A per-instance guard counts every request let in here, so key lookups stay bounded by the IP
        // limit on each instance even while this instance's IP lease is empty or being refilled.
        if (!_local.TryAcquire(batch, LimitSlot.Ip, LimitSlot.AfterIp))
        {
            return IpDecision.Refused;
        }

        if (batch.State(LimitSlot.Ip).Holder is IpSketch || RedisDown())
        {
            return IpDecision.Allowed;
        }

        batch.Guard = batch.State(LimitSlot.Ip);
        var lease = LeaseFor(in batch.Spec(LimitSlot.Ip));
        lock (lease)
        {
            if (lease.Fresh && batch.Guard.Holder is SlidingWindow { Seeded: > 0 } promoted)
            {
                lease.Seed += promoted.Seeded;
            }

            lease.Fresh = false;
            var now = NowMs;
            if (lease.CanTake(now))
            {
                batch.State(LimitSlot.Ip) = new LimitState { Holder = lease };
                lease.Take(now, ref batch.State(LimitSlot.Ip));
                return IpDecision.Allowed;
            }

            if (lease.KnownExhausted(now))
            {
                LocalRateLimitCounter.Release(ref batch.Guard);
                batch.State(LimitSlot.Ip) = new LimitState { Holder = lease };
                lease.Refuse(now, ref batch.State(LimitSlot.Ip));
                return IpDecision.Refused;
            }
        }

        return IpDecision.Deferred;
    }

    public void SettleDeferredIp(LimitBatch batch)
    {
        batch.IpDeferred = false;
        var lease = LeaseFor(in batch.Spec(LimitSlot.Ip));
        lock (lease)
        {
            var now = NowMs;
            if (lease.CanTake(now))
            {
                LimitState ignored = default;
                lease.Take(now, ref ignored);
                return;
            }

            if (lease.KnownExhausted(now))
            {
                return; // nothing left to charge: the IP is over its limit already
            }

            // The request is in, so its permit is charged whatever is left (as a seed), not taken from a grant:
            // a burst of such requests shares each trip's grant, and waiting for one each left most uncharged.
            lease.Seed++;
        }

        _ = ChargeSeedAsync(lease);
    }

    public ValueTask<bool> AcquireAsync(LimitBatch batch, int from, CancellationToken cancellationToken)
    {
        if (RedisDown())
        {
            return new(Fallback(batch, from));
        }

        var result = TryTake(batch, from);
        return result switch
        {
            Take.Allowed => new(Allowed(batch, from)),
            Take.Refused => new(Refused(batch, from)),
            _ => new(AcquireSlowAsync(batch, from)),
        };
    }

    public void Release(LimitBatch batch, int from, int to)
    {
        if (from == LimitSlot.Ip)
        {
            LocalRateLimitCounter.Release(ref batch.Guard);
        }

        for (var i = from; i < to; i++)
        {
            ref var state = ref batch.State(i);
            if (state.Allowed && state.Holder is RedisLease lease)
            {
                bool shared;
                lock (lease)
                {
                    // A small limit (or one nearly used up) is a shared counter: kept in this lease, the permit would
                    // look used to every other instance, which then refused with this limit while another one (the
                    // quota, say) was what refused. A large limit keeps it at hand, with no Redis call.
                    shared = lease.Scarce && !RedisDown();
                    if (shared)
                    {
                        lease.Untake(state.Ticket);
                    }
                    else
                    {
                        lease.GiveBack(state.Ticket);
                    }
                }

                if (shared)
                {
                    batch.AddGiveBack(ReturnToRedisAsync(lease, state.Ticket));
                }

                state.Holder = null;
            }
            else
            {
                LocalRateLimitCounter.Release(ref state);
            }
        }
    }

    public void Dispose() => _sweeper.Dispose();

    private async Task<bool> AcquireSlowAsync(LimitBatch batch, int from)
    {
        var started = Environment.TickCount64;
        var staleRounds = 0;
        var asked = 0;
        var askedEver = 0;
        try
        {
            // Every partition without a permit at hand is asked at once: one round trip, however many limits.
            while (true)
            {
                var trips = new List<Task>(batch.Count - from);
                asked = 0;
                for (var i = from; i < batch.Count; i++)
                {
                    var lease = (RedisLease)batch.State(i).Holder!;
                    lock (lease)
                    {
                        var now = NowMs;
                        if (!lease.CanTake(now) && !lease.KnownExhausted(now))
                        {
                            trips.Add(RefillAsync(lease));
                            asked |= 1 << i;
                        }
                    }
                }

                await Task.WhenAll(trips);
                askedEver |= asked;
                switch (TryTake(batch, from))
                {
                    case Take.Allowed:
                        return Allowed(batch, from);
                    case Take.Refused:
                        ReturnUnused(batch, from, askedEver);
                        return Refused(batch, from);
                }

                // Losing what a trip brought to other waiting requests is not a reason to give up: every trip
                // grants at least one permit or learns that none is left, so asking again ends, within the
                // store timeout. Only eight rounds in a row with a trip of this round arriving after its
                // bucket ended end it early: one such trip is just a bucket edge (the next one is charged to the
                // new bucket), and a lease's flag left from an older trip says nothing about this round.
                var stale = false;
                for (var i = from; i < batch.Count; i++)
                {
                    stale |= (asked & (1 << i)) != 0 && LeaseAt(batch, i).ArrivedStale;
                }

                staleRounds = stale ? staleRounds + 1 : 0;
                if (staleRounds >= 8 || Environment.TickCount64 - started >= _tripDeadlineMs)
                {
                    break;
                }
            }

            // Trips so slow that what they brought was stale on arrival, or that ran out the store timeout
            // (Redis failing over, reconnecting): Redis is not really answering, so decide locally as when it
            // is down, instead of refusing a limit that Redis never reported as used up.
            if (Environment.TickCount64 - started >= SlowTrips.TotalMilliseconds)
            {
                return Fallback(batch, from);
            }

            // Other requests kept taking what each trip brought: refuse this one rather than spin.
            batch.State(from).Allowed = false;
            batch.State(from).ResetAfter = TimeSpan.FromSeconds(1);
            return Refused(batch, from);
        }
        catch (StoreUnavailableException ex)
        {
            Interlocked.Exchange(ref _redisDownUntil, Environment.TickCount64 + (long)RetryRedisAfter.TotalMilliseconds);
            Log.FallingBack(_logger, ex);
            return Fallback(batch, from);
        }
    }

    private enum Take
    {
        Allowed,
        Refused,
        NeedsTrip,
    }

    /// <summary>Takes a permit of every partition from its lease if all have one at hand; all or nothing.</summary>
    private Take TryTake(LimitBatch batch, int from)
    {
        var count = batch.Count - from;
        Span<int> order = stackalloc int[LimitSpecBuffer.Capacity];
        while (true)
        {
            for (var i = 0; i < count; i++)
            {
                ref var state = ref batch.State(from + i);
                if (state.Holder is not RedisLease)
                {
                    state = new LimitState { Holder = LeaseFor(in batch.Spec(from + i)) };
                }

                order[i] = from + i;
            }

            if (!OrderedGate.TryEnterAll(batch, order[..count]))
            {
                for (var i = from; i < batch.Count; i++)
                {
                    batch.State(i).Holder = null;
                }

                continue;
            }

            try
            {
                var now = NowMs;
                var result = Take.Allowed;
                for (var i = from; i < batch.Count; i++)
                {
                    var lease = LeaseAt(batch, i);
                    if (lease.CanTake(now))
                    {
                        continue;
                    }

                    if (lease.KnownExhausted(now))
                    {
                        result = Take.Refused;
                        break;
                    }

                    result = Take.NeedsTrip;
                }

                for (var i = from; i < batch.Count; i++)
                {
                    var lease = LeaseAt(batch, i);
                    ref var state = ref batch.State(i);
                    if (result == Take.Allowed)
                    {
                        lease.Take(now, ref state);
                    }
                    else if (result == Take.Refused)
                    {
                        if (lease.KnownExhausted(now) && !lease.CanTake(now))
                        {
                            lease.Refuse(now, ref state);
                        }
                        else
                        {
                            lease.Peek(now, ref state);
                        }
                    }
                }

                return result;
            }
            finally
            {
                OrderedGate.ExitAll(batch, order[..count]);
            }
        }
    }

    private static RedisLease LeaseAt(LimitBatch batch, int index) => (RedisLease)batch.State(index).Holder!;

    /// <summary>
    /// Another limit of the request refused it after this request's trips brought permits of small limits: those go
    /// back to Redis (all or nothing across instances too), not into this instance's leases, where the others would
    /// see them used. A permit another waiting request of this instance would have taken costs it a trip, no more.
    /// </summary>
    private void ReturnUnused(LimitBatch batch, int from, int asked)
    {
        for (var i = from; i < batch.Count; i++)
        {
            if ((asked & (1 << i)) == 0)
            {
                continue;
            }

            var lease = LeaseAt(batch, i);
            long bucket;
            lock (lease)
            {
                if (!lease.Scarce || !lease.Surrender(NowMs))
                {
                    continue;
                }

                bucket = lease.Bucket;
            }

            batch.AddGiveBack(ReturnToRedisAsync(lease, bucket));
        }
    }

    /// <summary>
    /// Gives one permit of a refused request back to Redis. Not serialised with the lease's trips (unlike the sweeper's
    /// returns): it changes nothing the lease holds, only the partition's count in Redis.
    /// </summary>
    private async Task ReturnToRedisAsync(RedisLease lease, long bucket)
    {
        var started = System.Diagnostics.Stopwatch.GetTimestamp();
        try
        {
            var result = await _store.LeaseAsync(lease.Key, lease.Spec.PermitLimit, (long)lease.Spec.Window.TotalMilliseconds, 0, bucket, 1, 0);
            _metrics?.StoreCall("rate_limit_lease", System.Diagnostics.Stopwatch.GetElapsedTime(started));
            lock (lease)
            {
                lease.Reopen(result.Left);
            }
        }
        catch (StoreUnavailableException)
        {
            // Still counted in Redis, so still this instance's to hand out while its bucket lasts (else only stricter).
            lock (lease)
            {
                lease.Restock(bucket);
            }
        }
    }

    private static bool Allowed(LimitBatch batch, int from)
    {
        // The IP limit is now charged in Redis; its per-instance guard permit stays counted locally.
        return true;
    }

    private static bool Refused(LimitBatch batch, int from)
    {
        if (from == LimitSlot.Ip)
        {
            LocalRateLimitCounter.Release(ref batch.Guard);
        }

        return false;
    }

    private bool Fallback(LimitBatch batch, int from)
    {
        var start = from;
        if (from == LimitSlot.Ip && batch.Guard.Holder is not null)
        {
            // The guard already took the IP permit locally.
            batch.State(LimitSlot.Ip) = batch.Guard;
            start = LimitSlot.AfterIp;
        }

        if (start == batch.Count)
        {
            return true;
        }

        var allowed = _local.TryAcquire(batch, start, batch.Count);
        if (!allowed && start == LimitSlot.AfterIp && from == LimitSlot.Ip)
        {
            LocalRateLimitCounter.Release(ref batch.Guard);
        }

        return allowed;
    }

    private bool RedisDown() => Environment.TickCount64 < Interlocked.Read(ref _redisDownUntil);

    private RedisLease LeaseFor(in LimitSpec spec)
    {
        if (_leases.TryGetValue(spec, out var lease))
        {
            return lease;
        }

        return _leases.GetOrAdd(spec, static (s, store) => new RedisLease(s, store.PartitionKey(s.PartitionText(), (long)s.Window.TotalMilliseconds)), _store);
    }

    private Task RefillAsync(RedisLease lease)
    {
        // Called holding the lease's lock. Concurrent requests share one trip per partition.
        return lease.Refill ??= RunRefillAsync(lease);
    }

    private async Task RunRefillAsync(RedisLease lease)
    {
        await Task.Yield(); // the caller holds the lease's lock
        try
        {
            long want, backBucket;
            int back, seed;
            lock (lease)
            {
                (want, backBucket, back) = lease.PrepareRefill(NowMs);
                seed = lease.Seed;
            }

            await RunScriptAsync(lease, want, backBucket, back, seed);
        }
        finally
        {
            lock (lease)
            {
                lease.Refill = null;
            }
        }
    }

    private async Task RunScriptAsync(RedisLease lease, long want, long backBucket, int back, int seed = 0)
    {
        var sent = NowMs;
        var started = System.Diagnostics.Stopwatch.GetTimestamp();
        LimitLease result;
        try
        {
            result = await _store.LeaseAsync(lease.Key, lease.Spec.PermitLimit, (long)lease.Spec.Window.TotalMilliseconds, want, backBucket, back, seed, LeaseAhead);

            // Operators see how many lease calls their traffic makes (the histogram's count) and what they take.
            _metrics?.StoreCall("rate_limit_lease", System.Diagnostics.Stopwatch.GetElapsedTime(started));
        }
        catch when (back > 0)
        {
            // The permits were not given back; they stay counted in Redis until their bucket leaves the window.
            throw;
        }

        lock (lease)
        {
            lease.Apply(sent, want, result.Granted, result.Left, result.Bucket, result.BucketMs, result.StoreNowMs, result.ResetMs, result.WaitMs);
            lease.Seed -= seed;
            lease.ArrivedStale = result.Granted > 0 && NowMs >= lease.ValidUntil;
        }
    }

    private async Task ChargeSeedAsync(RedisLease lease)
    {
        try
        {
            // A trip under way may have read the seed before this one was added: then it takes another.
            while (true)
            {
                Task refill;
                lock (lease)
                {
                    if (lease.Seed == 0)
                    {
                        return;
                    }

                    refill = RefillAsync(lease);
                }

                await refill;
            }
        }
        catch (StoreUnavailableException ex)
        {
            // The seed stays on the lease: the next trip charges it.
            Log.FallingBack(_logger, ex);
        }
    }

    private async Task ReturnAsync(RedisLease lease, long bucket, int back)
    {
        await Task.Yield();
        try
        {
            await RunScriptAsync(lease, 0, bucket, back);
        }
        catch (StoreUnavailableException)
        {
            // Unreturned permits only make the limit stricter until their bucket leaves the window.
        }
        finally
        {
            lock (lease)
            {
                lease.Refill = null;
            }
        }
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = EventIds.RateLimitRedisFallback, Level = LogLevel.Warning, Message = "Redis did not answer the rate limiter; enforcing per-instance limits for now.")]
        public static partial void FallingBack(ILogger logger, Exception exception);
    }
}
