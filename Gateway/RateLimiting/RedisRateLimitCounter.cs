using System.Collections.Concurrent;
using System.Diagnostics;
using Gateway.Configuration;
using Gateway.Observability;
using Gateway.Stores.Redis;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace Gateway.RateLimiting;

/// <summary>
/// Limits shared by every instance on one Redis, without a Redis call per request. Each partition is
/// one small Redis hash of per-bucket counts (60 buckets per window, so its size does not depend on the
/// limit), and each instance holds a lease on it: a batch of permits charged in Redis to the current
/// bucket, handed out locally until the bucket ends, and given back if unused. Leases are sized from
/// the instance's recent rate (doubling while they run out early), capped at a quarter of what is
/// left, and shrink to single permits when 64 or fewer are left, so instances never strand much of a
/// limit. Because a permit is charged in Redis before it is used, and only used inside the bucket it
/// was charged to, N instances together never accept more than the limit in any window; the script
/// reads Redis's clock, so instance clocks do not matter. Every script touches one key, whose name
/// carries its own hash tag, so partitions spread over a Redis Cluster's slots.
/// When Redis does not answer, the per-instance counter takes over (never "no limits").
/// A client IP past the per-instance exact set is judged by the per-instance guard's sketch alone, with
/// no lease and no Redis key, so a flood of distinct addresses grows neither this instance's leases nor
/// Redis; once the sketch promotes it (half its limit) it gets a lease whose first trip charges what the
/// sketch had counted, so the shared count starts from there.
/// </summary>
internal sealed partial class RedisRateLimitCounter : IRateLimitCounter, IDisposable
{
    // KEYS[1]: the partition's hash {bucket id -> permits}. ARGV: limit, window (ms), permits wanted,
    // bucket and count of permits given back, permits to charge whatever is left (an address's count from the
    // per-instance sketch, when it is promoted to a partition of its own). Returns: granted, permits left after the grant, current
    // bucket, bucket length (ms), Redis time (ms), ms until the oldest counted bucket leaves the window,
    // ms until a permit is free again (when none is).
    private const string Script = """
        local t = redis.call('TIME')
        local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
        local limit = tonumber(ARGV[1])
        local window = tonumber(ARGV[2])
        local want = tonumber(ARGV[3])
        local back_id = tonumber(ARGV[4])
        local back = tonumber(ARGV[5])
        local seed = tonumber(ARGV[6])
        local bms = math.max(1, math.floor(window / 60))
        local cur = math.floor(now / bms)
        local all = redis.call('HGETALL', KEYS[1])
        local ids = {}
        local counts = {}
        local used = 0
        for i = 1, #all, 2 do
          local id = tonumber(all[i])
          local c = tonumber(all[i + 1])
          if id <= cur - 61 then
            redis.call('HDEL', KEYS[1], all[i])
          else
            if id == back_id and back > 0 then
              local b = math.min(back, c)
              c = c - b
              if c == 0 then redis.call('HDEL', KEYS[1], all[i]) else redis.call('HSET', KEYS[1], all[i], c) end
            end
            if c > 0 then
              ids[#ids + 1] = id
              counts[id] = c
              used = used + c
            end
          end
        end
        if seed > 0 then
          used = used + seed
          if counts[cur] == nil then ids[#ids + 1] = cur; counts[cur] = 0 end
          counts[cur] = counts[cur] + seed
          redis.call('HINCRBY', KEYS[1], cur, seed)
        end
        local free = limit - used
        local grant = 0
        if want > 0 and free > 0 then
          if free <= 64 then grant = 1 else grant = math.min(want, math.floor(free / 4)) end
          used = used + grant
          if counts[cur] == nil then ids[#ids + 1] = cur; counts[cur] = 0 end
          counts[cur] = counts[cur] + grant
          redis.call('HINCRBY', KEYS[1], cur, grant)
        end
        if used > 0 then redis.call('PEXPIRE', KEYS[1], window + 2 * bms) end
        table.sort(ids)
        local reset = 0
        local wait = 0
        local needed = used - limit + 1
        local released = 0
        for _, id in ipairs(ids) do
          local leaves = (id + 61) * bms - now
          if reset == 0 then reset = leaves end
          released = released + counts[id]
          if needed > 0 and wait == 0 and released >= needed then wait = leaves end
        end
        return { grant, limit - used, cur, bms, now, reset, wait }
        """;

    private const int MaxLease = 1 << 20;
    private static readonly TimeSpan RetryRedisAfter = TimeSpan.FromSeconds(1);
    private static readonly TimeSpan SlowTrips = TimeSpan.FromMilliseconds(250);
    private static readonly long TicksPerMs = Stopwatch.Frequency / 1000;

    private readonly IConnectionMultiplexer _redis;
    private readonly LocalRateLimitCounter _local;
    private readonly ILogger<RedisRateLimitCounter> _logger;
    private readonly RedisKeys _keys;
    private readonly ConcurrentDictionary<LimitSpec, Lease> _leases = new();
    private readonly Timer _sweeper;
    private readonly long _tripDeadlineMs;
    private int _sweeping;
    private long _redisDownUntil;

    public RedisRateLimitCounter(IConnectionMultiplexer redis, LocalRateLimitCounter local, IOptions<GatewayOptions> options, ILogger<RedisRateLimitCounter> logger)
    {
        _redis = redis;
        _local = local;
        _logger = logger;
        _keys = new RedisKeys(options.Value.Store.RedisPrefix);
        _tripDeadlineMs = (long)Math.Max(SlowTrips.TotalMilliseconds, options.Value.Store.Timeout.TotalMilliseconds);
        _sweeper = new Timer(static s => ((RedisRateLimitCounter)s!).SweepOnce(), this, 100, 100);
    }

    /// <summary>Leases held right now (for tests and the bench).</summary>
    public int LeaseCount => _leases.Count;

    /// <summary>Monotonic milliseconds: leases are about Redis buckets mapped onto this clock, not wall time.</summary>
    private static long NowMs => Stopwatch.GetTimestamp() / TicksPerMs;

    /// <summary>A decision may wait for Redis, and a deferred IP permit is charged in the background, both holding the batch.</summary>
    public bool HoldsBatches => true;

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
                lease.Seed = promoted.Seeded;
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
        _ = SettleAsync(batch.Spec(LimitSlot.Ip));
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
            if (state.Allowed && state.Holder is Lease lease)
            {
                lock (lease)
                {
                    lease.GiveBack(state.Ticket);
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
        var stale = false;
        try
        {
            // Every partition without a permit at hand is asked at once: one round trip, however many limits.
            for (var attempt = 0; ; attempt++)
            {
                var trips = new List<Task>(batch.Count - from);
                for (var i = from; i < batch.Count; i++)
                {
                    var lease = (Lease)batch.State(i).Holder!;
                    lock (lease)
                    {
                        var now = NowMs;
                        if (!lease.CanTake(now) && !lease.KnownExhausted(now))
                        {
                            trips.Add(RefillAsync(lease));
                        }
                    }
                }

                await Task.WhenAll(trips);
                switch (TryTake(batch, from))
                {
                    case Take.Allowed:
                        return Allowed(batch, from);
                    case Take.Refused:
                        return Refused(batch, from);
                }

                // Losing what a trip brought to other waiting requests is not a reason to give up: every trip
                // grants at least one permit or learns that none is left, so asking again ends, within the
                // store timeout. Trips whose permits arrived already expired end it after eight rounds.
                for (var i = from; i < batch.Count; i++)
                {
                    stale |= LeaseAt(batch, i).ArrivedStale;
                }

                if ((stale && attempt >= 7) || Environment.TickCount64 - started >= _tripDeadlineMs)
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
        catch (Exception ex) when (ex is RedisException or TimeoutException)
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
                if (state.Holder is not Lease)
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

    private static Lease LeaseAt(LimitBatch batch, int index) => (Lease)batch.State(index).Holder!;

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

    private Lease LeaseFor(in LimitSpec spec)
    {
        if (_leases.TryGetValue(spec, out var lease))
        {
            return lease;
        }

        return _leases.GetOrAdd(spec, static (s, keys) => new Lease(s, keys.RateLimitPartition(s.PartitionText())), _keys);
    }

    private Task RefillAsync(Lease lease)
    {
        // Called holding the lease's lock. Concurrent requests share one trip per partition.
        return lease.Refill ??= RunRefillAsync(lease);
    }

    private async Task RunRefillAsync(Lease lease)
    {
        await Task.Yield(); // the caller holds the lease's lock
        try
        {
            long want, backBucket;
            int back, seed;
            lock (lease)
            {
                (want, backBucket, back) = lease.PrepareRefill(NowMs);
                (seed, lease.Seed) = (lease.Seed, 0);
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

    private async Task RunScriptAsync(Lease lease, long want, long backBucket, int back, int seed = 0)
    {
        var sent = NowMs;
        RedisResult[] result;
        try
        {
            result = (RedisResult[])(await _redis.GetDatabase().ScriptEvaluateAsync(
                Script,
                [lease.Key],
                [lease.Spec.PermitLimit, (long)lease.Spec.Window.TotalMilliseconds, want, backBucket, back, seed]))!;
        }
        catch when (back > 0)
        {
            // The permits were not given back; they stay counted in Redis until their bucket leaves the window.
            throw;
        }

        lock (lease)
        {
            lease.Apply(sent, want, (int)result[0], (int)result[1], (long)result[2], (long)result[3], (long)result[4], (long)result[5], (long)result[6]);
            lease.ArrivedStale = (int)result[0] > 0 && NowMs >= lease.ValidUntil;
        }
    }

    private async Task SettleAsync(LimitSpec spec)
    {
        try
        {
            var lease = LeaseFor(in spec);
            for (var attempt = 0; attempt < 2; attempt++)
            {
                Task refill;
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

                    refill = RefillAsync(lease);
                }

                await refill;
            }
        }
        catch (Exception ex) when (ex is RedisException or TimeoutException)
        {
            Log.FallingBack(_logger, ex);
        }
    }

    /// <summary>
    /// The timer's callback. A sweep that outlasts the period (many leases, as with a new client IP per
    /// request, on a busy machine) is never joined by the next one: overlapping sweeps contending for the
    /// same lease locks piled up on the thread pool until no thread was left for requests.
    /// </summary>
    private void SweepOnce()
    {
        if (Interlocked.Exchange(ref _sweeping, 1) == 1)
        {
            return;
        }

        try
        {
            Sweep();
        }
        finally
        {
            Volatile.Write(ref _sweeping, 0);
        }
    }

    /// <summary>Gives back what expired leases did not use, and forgets idle leases.</summary>
    private void Sweep()
    {
        var now = NowMs;
        foreach (var (spec, lease) in _leases)
        {
            // A lease a request holds right now is in use, not idle: the next sweep looks at it again.
            if (!Monitor.TryEnter(lease))
            {
                continue;
            }

            try
            {
                if (lease.Retired || lease.Refill is not null || now < lease.ValidUntil)
                {
                    continue;
                }

                if (lease.Available == 0)
                {
                    if (now - lease.LastUsed > 5_000 && now >= lease.ExhaustedUntil)
                    {
                        lease.Retired = true;
                        _leases.TryRemove(new KeyValuePair<LimitSpec, Lease>(spec, lease));
                    }

                    continue;
                }

                var (bucket, back) = (lease.Bucket, lease.Available);
                lease.Available = 0;
                lease.Refill = ReturnAsync(lease, bucket, back);
            }
            finally
            {
                Monitor.Exit(lease);
            }
        }
    }

    private async Task ReturnAsync(Lease lease, long bucket, int back)
    {
        await Task.Yield();
        try
        {
            await RunScriptAsync(lease, 0, bucket, back);
        }
        catch (Exception ex) when (ex is RedisException or TimeoutException)
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

    /// <summary>One instance's lease on one partition. All members are guarded by its lock (<c>lock (lease)</c>).</summary>
    private sealed class Lease(LimitSpec spec, string key) : OrderedGate
    {
        public LimitSpec Spec { get; } = spec;

        public RedisKey Key { get; } = key;

        public Task? Refill { get; set; }

        /// <summary>No IP request has looked at this lease yet (the first one says whether the address was promoted).</summary>
        public bool Fresh { get; set; } = true;

        /// <summary>Permits the next trip charges regardless of the limit: the sketch's count of a promoted address.</summary>
        public int Seed { get; set; }

        /// <summary>The last trip granted permits whose bucket had ended by the time they arrived.</summary>
        public bool ArrivedStale { get; set; }

        /// <summary>Permits at hand, charged in Redis to <see cref="Bucket"/>.</summary>
        public int Available { get; set; }

        public long Bucket { get; private set; } = long.MinValue;

        /// <summary>When <see cref="Bucket"/> ends, on this instance's clock (conservatively early).</summary>
        public long ValidUntil { get; private set; }

        /// <summary>Redis had no permit; none can come back before this (the next bucket).</summary>
        public long ExhaustedUntil { get; private set; }

        // From creation, so a sweep does not retire a lease a request is about to fill.
        public long LastUsed { get; private set; } = NowMs;

        private int _want = 1;
        private int _takenInBucket;
        private int _sharedLeft;
        private long _resetAt;
        private long _retryAt;

        public bool CanTake(long now) => Available > 0 && now < ValidUntil;

        public bool KnownExhausted(long now) => now < ExhaustedUntil;

        public void Take(long now, ref LimitState state)
        {
            Available--;
            _takenInBucket++;
            LastUsed = now;
            state.Allowed = true;
            state.Remaining = _sharedLeft + Available;
            state.ResetAfter = TimeSpan.FromMilliseconds(Math.Max(1, _resetAt - now));
            state.Ticket = Bucket;
        }

        public void Peek(long now, ref LimitState state)
        {
            state.Allowed = true;
            state.Remaining = _sharedLeft + Available;
            state.ResetAfter = TimeSpan.FromMilliseconds(Math.Max(0, _resetAt - now));
        }

        public void Refuse(long now, ref LimitState state)
        {
            state.Allowed = false;
            state.Remaining = 0;
            state.ResetAfter = TimeSpan.FromMilliseconds(Math.Max(1, _retryAt - now));
        }

        /// <summary>A permit of a refused request: back to the lease while its bucket lasts (else it stays counted, stricter).</summary>
        public void GiveBack(long bucket)
        {
            if (bucket == Bucket)
            {
                Available++;
                _takenInBucket--;
            }
        }

        public (long Want, long BackBucket, int Back) PrepareRefill(long now)
        {
            var back = 0;
            if (now >= ValidUntil && Available > 0)
            {
                back = Available;
                Available = 0;
            }

            // Ran out inside its bucket: ask for twice as much. Otherwise: what the last bucket used.
            _want = now < ValidUntil ? Math.Min(MaxLease, _want * 2) : Math.Clamp(_takenInBucket, 1, MaxLease);
            return (Math.Min(_want, Spec.PermitLimit), Bucket, back);
        }

        public void Apply(long sent, long want, int granted, int left, long bucket, long bucketMs, long redisNow, long reset, long wait)
        {
            if (bucket != Bucket)
            {
                // Permits of an older bucket must not be used past it: they were given back with this call or by
                // the sweep, or (given back by a refused request meanwhile) stay counted there, which is only stricter.
                Available = 0;

                Bucket = bucket;
                _takenInBucket = 0;
            }

            Available += granted;
            _sharedLeft = Math.Max(0, left);
            ValidUntil = sent + ((bucket + 1) * bucketMs) - redisNow;
            _resetAt = sent + reset;
            if (granted == 0 && want > 0)
            {
                ExhaustedUntil = ValidUntil;
                _retryAt = sent + Math.Max(wait, 1);
            }
        }
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = EventIds.RateLimitRedisFallback, Level = LogLevel.Warning, Message = "Redis did not answer the rate limiter; enforcing per-instance limits for now.")]
        public static partial void FallingBack(ILogger logger, Exception exception);
    }
}
