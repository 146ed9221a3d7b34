using System.Collections.Concurrent;
using Gateway.Observability;
using Gateway.Stores;

namespace Gateway.RateLimiting;

/// <summary>
/// Quota and credit counters shared by every instance on one Redis, without a Redis call per request (the
/// store's <see cref="ISharedQuotaStore"/> makes the calls). Each counter is one Redis integer, <c>{prefix}q:{&lt;partition&gt;}</c> (its own hash tag), that counts what was
/// used in its period; each instance leases part of what is left: one script call adds a batch to the counter
/// and the instance hands it out locally. A grant is sized from the instance's recent demand (doubling while
/// trips come less than a second apart), capped at a quarter of what is left, and is just the request's cost
/// when 64 or fewer are left, so instances strand at most a few percent of a quota while busy, and never admit
/// more than it: a unit is counted in Redis before it is used.
/// <para>
/// What is left for the headers and the verify API is the count this instance last learned (a trip, or a look at the
/// counter at most a second old while it hands out a lease) less what it handed out since. The count can go down
/// (credits added, units given back), so the count learned last is kept, not the highest: with the highest, a key
/// given 500 credits went on showing the balance from before on every instance.
/// </para>
/// <para>
/// Persistence and failover: the counter lives as long as its period (plus a day). Each instance remembers the
/// count it last learned per counter; if Redis comes back without the counter (restarted without
/// persistence, or a replica promoted before the counter reached it), the first trip restores it to that
/// count, so a month does not start over. While Redis does not answer, each instance goes on from what it
/// knew, locally, and adds what it admitted meanwhile to Redis once Redis answers again.
/// </para>
/// </summary>
internal sealed partial class RedisQuotaCounter : IQuotaCounter, IAsyncDisposable
{
    private const int MaxWant = 4096;
    private static readonly TimeSpan RetryRedisAfter = TimeSpan.FromSeconds(1);
    private static readonly TimeSpan RememberRefusal = TimeSpan.FromSeconds(1);
    private static readonly TimeSpan LookAgainAfter = TimeSpan.FromSeconds(1);

    private readonly ISharedQuotaStore _store;
    private readonly LocalQuotaCounter _fallback;
    private readonly IQuotaEvents _events;
    private readonly TimeProvider _time;
    private readonly ILogger<RedisQuotaCounter> _logger;
    private readonly ConcurrentDictionary<string, LeaseState> _leases = new(StringComparer.Ordinal);
    private long _redisDownUntil;

    public RedisQuotaCounter(ISharedQuotaStore store, IQuotaEvents events, TimeProvider time, ILogger<RedisQuotaCounter> logger)
    {
        _store = store;
        _events = events;
        _time = time;
        _logger = logger;
        _fallback = new LocalQuotaCounter(null, events, time);
    }

    /// <summary>Whether quotas are being counted locally because Redis did not answer (for tests).</summary>
    internal bool OnFallback => Interlocked.Read(ref _redisDownUntil) > _time.GetTimestamp();

    /// <summary>Script calls made so far (for tests and the bench).</summary>
    public long Trips => Interlocked.Read(ref _trips);

    private long _trips;
    private long _nextForget;

    /// <summary>Counters this instance holds a lease state for (for tests).</summary>
    internal int LeaseCount => _leases.Count;

    public ValueTask<bool> ChargeAsync(LimitBatch batch, CancellationToken cancellationToken)
    {
        var decision = TakeLocally(batch);
        return decision is { } allowed ? ValueTask.FromResult(allowed) : TripAsync(batch, cancellationToken);
    }

    /// <summary>
    /// What this instance knows each counter has left, asking Redis only for a counter it has never seen; never
    /// charges. False when a counter's count is not known (Redis did not answer before this instance saw it).
    /// </summary>
    public async ValueTask<bool> PeekAsync(LimitBatch batch, CancellationToken cancellationToken)
    {
        var known = true;
        for (var i = 0; i < batch.Quotas.Count; i++)
        {
            var partition = batch.Quotas.Charges[i].Partition;
            var lease = Lease(in batch.Quotas.Charges[i]);
            bool seen, look;
            long call;
            lock (lease)
            {
                seen = lease.Known;
                look = seen && LookDue(lease, _time.GetTimestamp());
                call = seen ? 0 : lease.Send();
            }

            if (look)
            {
                _ = LookAsync(partition, lease);
            }

            if (!seen && !OnFallback)
            {
                try
                {
                    var value = await _store.UsedAsync(partition).WaitAsync(cancellationToken);
                    lock (lease)
                    {
                        lease.Learn(call, value ?? 0, _time.GetTimestamp());
                        lease.Known = true;
                    }
                }
                catch (StoreUnavailableException)
                {
                    // The refusal stands either way; it just carries no count.
                }
            }

            lock (lease)
            {
                known &= lease.Known;
                batch.Quotas.Charges[i].Remaining = lease.RemainingFor(batch.Quotas.Charges[i].Limit);
            }
        }

        return known;
    }

    public async Task<long> UsedAsync(string partition, CancellationToken cancellationToken)
    {
        return await _store.UsedAsync(partition) ?? (_leases.TryGetValue(partition, out var lease) ? lease.KnownUsed : 0);
    }

    public async Task<long> AdjustAsync(string partition, long delta, DateTimeOffset? expiresAt, CancellationToken cancellationToken)
    {
        _leases.TryGetValue(partition, out var lease);
        var call = 0L;
        if (lease is not null)
        {
            lock (lease)
            {
                call = lease.Send();
            }
        }

        var used = await _store.AdjustAsync(partition, delta, expiresAt);

        // A refusal this instance remembers no longer holds once credits were added; other instances ask
        // Redis again within a second. The count it knows follows the adjustment, up or down: it is what the
        // remaining count it reports is computed from, and what a counter lost on Redis is restored to.
        if (lease is not null)
        {
            lock (lease)
            {
                lease.RefusedUntil = 0;
                lease.Learn(call, used, _time.GetTimestamp());
            }
        }

        return used;
    }

    /// <summary>Gives back what this instance holds and has not used, so a stopping instance strands nothing.</summary>
    public async ValueTask DisposeAsync()
    {
        var returns = new List<Task>();
        foreach (var (partition, lease) in _leases)
        {
            long held;
            lock (lease)
            {
                held = lease.Held;
                lease.Held = 0;
            }

            if (held > 0)
            {
                returns.Add(_store.AdjustAsync(partition, -held, null));
            }
        }

        try
        {
            await Task.WhenAll(returns).WaitAsync(TimeSpan.FromSeconds(2));
        }
        catch (Exception)
        {
            // Units not given back stay counted: only stricter.
        }
    }

    /// <summary>True or false when the leases decide; null when Redis must be asked.</summary>
    private bool? TakeLocally(LimitBatch batch)
    {
        ref var quotas = ref batch.Quotas;
        var now = _time.GetTimestamp();
        var a = Lease(in quotas.Charges[0]);
        var b = quotas.Count > 1 ? Lease(in quotas.Charges[1]) : null;
        var swap = b is not null && string.CompareOrdinal(quotas.Charges[0].Partition, quotas.Charges[1].Partition) > 0;
        bool? decided;
        int looks;
        lock (swap ? b! : a)
        {
            if (b is null)
            {
                decided = Take(ref quotas, a, null, now, out looks);
            }
            else
            {
                lock (swap ? a : b)
                {
                    decided = Take(ref quotas, a, b, now, out looks);
                }
            }
        }

        // Started outside the locks; the request does not wait for them.
        if ((looks & 1) != 0)
        {
            _ = LookAsync(quotas.Charges[0].Partition, a);
        }

        if ((looks & 2) != 0)
        {
            _ = LookAsync(quotas.Charges[1].Partition, b!);
        }

        return decided;
    }

    /// <summary>
    /// Whether the count this instance knows is older than a second and nobody is asking for it yet (then the caller
    /// asks): an instance handing out a lease makes no trip, and would otherwise not see credits added or subtracted
    /// elsewhere, or what other instances used, until its lease ran out. Under the lease's lock.
    /// </summary>
    private bool LookDue(LeaseState lease, long now)
    {
        if (!lease.Known || _time.GetElapsedTime(lease.CheckedAt, now) < LookAgainAfter || OnFallback)
        {
            return false;
        }

        lease.CheckedAt = now;
        return true;
    }

    /// <summary>Reads the counter to refresh what this instance shows as left; admission does not depend on it.</summary>
    private async Task LookAsync(string partition, LeaseState lease)
    {
        long call;
        lock (lease)
        {
            call = lease.Send();
        }

        try
        {
            if (await _store.UsedAsync(partition) is { } used)
            {
                lock (lease)
                {
                    lease.Learn(call, used, _time.GetTimestamp());
                }
            }
        }
        catch (Exception)
        {
            // The view stays as it was until the next trip or look (a second on); nothing is decided from it.
        }
    }

    private bool? Take(ref QuotaBatch quotas, LeaseState a, LeaseState? b, long now, out int looks)
    {
        looks = 0;
        var trip = false;
        var refused = false;
        for (var i = 0; i < quotas.Count; i++)
        {
            ref var charge = ref quotas.Charges[i];
            var lease = i == 0 ? a : b!;

            // Units held were granted under the limit of the trip that brought them: after the limit was lowered
            // (a plan or customer changed), they go back to Redis with the next trip, which decides on the new one.
            charge.Allowed = lease.Held >= charge.Cost && charge.Limit >= lease.Limit;
            charge.Remaining = lease.RemainingFor(charge.Limit);
            if (!charge.Allowed)
            {
                // A counter Redis reported used up (for this limit) is refused without asking again for a second,
                // but only for costs above what it had left: a refused cost of 6 says nothing about a cost of 4.
                if (lease.RefusedUntil > now && lease.RefusedLimit == charge.Limit && charge.Cost > lease.Held + lease.RefusedLeft)
                {
                    refused = true;
                }
                else
                {
                    trip = true;
                }
            }
        }

        if (refused)
        {
            return false;
        }

        if (trip)
        {
            return null;
        }

        for (var i = 0; i < quotas.Count; i++)
        {
            ref var charge = ref quotas.Charges[i];
            var lease = i == 0 ? a : b!;
            lease.Held -= charge.Cost;
            charge.Remaining = lease.RemainingFor(charge.Limit);
            if (LookDue(lease, now))
            {
                looks |= 1 << i;
            }
        }

        return true;
    }

    private async ValueTask<bool> TripAsync(LimitBatch batch, CancellationToken cancellationToken)
    {
        // Each trip grants at least the request's cost or reports the counter used up, so this ends unless
        // other requests keep taking what the trips bring; the deadline bounds that.
        var deadline = _time.GetTimestamp() + _time.TimestampFrequency * 2;
        var trip = new TripLedger();
        while (true)
        {
            if (Interlocked.Read(ref _redisDownUntil) > _time.GetTimestamp())
            {
                trip.ReportKept(_events, batch);
                return await FallbackAsync(batch, cancellationToken);
            }

            try
            {
                await AskRedisAsync(batch, trip);
            }
            catch (StoreUnavailableException ex)
            {
                trip.ReportKept(_events, batch);
                Interlocked.Exchange(ref _redisDownUntil, _time.GetTimestamp() + (long)(RetryRedisAfter.TotalSeconds * _time.TimestampFrequency));
                Log.RedisFallback(_logger, ex);
                return await FallbackAsync(batch, cancellationToken);
            }

            if (TakeLocally(batch) is { } decided)
            {
                if (decided)
                {
                    trip.ReportKept(_events, batch);
                    return true;
                }

                // Started, not awaited: the caller gives back the request's rate-limit permits in the same round
                // trip, and awaits both before it answers (LimitBatch.GivingBack).
                batch.AddGiveBack(GiveBackAsync(batch, trip));
                return false;
            }

            if (_time.GetTimestamp() > deadline)
            {
                batch.AddGiveBack(GiveBackAsync(batch, trip));
                return false;
            }
        }
    }

    /// <summary>
    /// A refused request gives back, at once, the units its trips leased for it from the counters that did have
    /// them (quota and credits are leased in one trip, so when the credits refuse, the quota's unit was already
    /// counted): otherwise each instance would keep one counted but unused, and a customer's <c>used</c> and its
    /// 80% crossing would run ahead of what was admitted. Units the trip granted beyond the request's cost are
    /// lease stock for later requests and stay.
    /// </summary>
    private async Task GiveBackAsync(LimitBatch batch, TripLedger trip)
    {
        for (var i = 0; i < batch.Quotas.Count; i++)
        {
            if (!trip.Called[i])
            {
                continue;
            }

            var charge = batch.Quotas.Charges[i];
            var lease = Lease(in charge);
            long back, floor, call;
            lock (lease)
            {
                // Another request of this instance may have used them meanwhile: those are admitted, not given back.
                back = Math.Min(trip.Brought[i], lease.Held);
                lease.Held -= back;
                floor = Math.Max(0, lease.KnownUsed - lease.Unreported);
                call = lease.Send();
            }

            if (back == 0)
            {
                QuotaCrossings.Report(_events, in charge, trip.Before[i], trip.After[i]);
                continue;
            }

            QuotaLease result;
            try
            {
                Interlocked.Increment(ref _trips);
                result = await _store.LeaseAsync(charge.Partition, charge.Limit, 0, 0, floor, charge.ExpiresAt, -back);
            }
            catch (StoreUnavailableException)
            {
                // Still counted in Redis, so still this instance's to hand out: lease stock after all.
                lock (lease)
                {
                    lease.Held += back;
                }

                QuotaCrossings.Report(_events, in charge, trip.Before[i], trip.After[i]);
                continue;
            }

            lock (lease)
            {
                lease.Learn(call, result.UsedAfter, _time.GetTimestamp());
            }

            // What went back crosses nothing. But a threshold this trip's lease crossed was then not reported by the
            // leases of others that landed before the give-back (they started at or above it): if the counter still
            // stands at it without these units, it was reached, and is reported here.
            var net = trip.After[i] - back;
            QuotaCrossings.Report(_events, in charge, trip.Before[i], net);
            QuotaCrossings.Report(_events, in charge, Math.Max(trip.Before[i], net), Math.Min(trip.After[i], result.UsedAfter));
        }
    }

    private async Task AskRedisAsync(LimitBatch batch, TripLedger trip)
    {
        ForgetEnded();
        var count = batch.Quotas.Count;
        var calls = new Task<QuotaLease>?[QuotaChargeBuffer.Capacity];
        var unreported = new long[QuotaChargeBuffer.Capacity];
        var back = new long[QuotaChargeBuffer.Capacity];
        var needs = new long[QuotaChargeBuffer.Capacity];
        var sent = new long[QuotaChargeBuffer.Capacity];
        var now = _time.GetTimestamp();
        for (var i = 0; i < count; i++)
        {
            var charge = batch.Quotas.Charges[i];
            var lease = Lease(in charge);
            long need, want, floor;
            lock (lease)
            {
                var lowered = charge.Limit < lease.Limit;
                if (lease.Held >= charge.Cost && !lowered)
                {
                    continue;
                }

                if (lowered)
                {
                    back[i] = lease.Held;
                    lease.Held = 0;
                    lease.Limit = charge.Limit;
                }

                need = charge.Cost - lease.Held;
                needs[i] = need;
                var recent = lease.LastTrip != 0 && _time.GetElapsedTime(lease.LastTrip, now) < TimeSpan.FromSeconds(1);
                lease.Want = recent ? Math.Min(MaxWant, Math.Max(1, lease.Want * 2)) : 1;
                lease.LastTrip = now;
                want = lease.Want;
                floor = lease.KnownUsed - lease.Unreported;
                unreported[i] = lease.Unreported;
                lease.Unreported = 0;
                sent[i] = lease.Send();
            }

            Interlocked.Increment(ref _trips);
            calls[i] = _store.LeaseAsync(charge.Partition, charge.Limit, need, want, Math.Max(0, floor), charge.ExpiresAt, unreported[i] - back[i]);
        }

        for (var i = 0; i < count; i++)
        {
            if (calls[i] is not { } call)
            {
                continue;
            }

            var charge = batch.Quotas.Charges[i];
            var lease = Lease(in charge);
            QuotaLease result;
            try
            {
                result = await call;
            }
            catch
            {
                lock (lease)
                {
                    lease.Unreported += unreported[i]; // not known to have landed: report again
                }

                throw;
            }

            var (granted, before, after) = result;
            lock (lease)
            {
                lease.Held += granted;
                lease.Learn(sent[i], after, _time.GetTimestamp());
                lease.Limit = charge.Limit;
                lease.Known = true;
                if (granted == 0)
                {
                    lease.RefusedUntil = _time.GetTimestamp() + (long)(RememberRefusal.TotalSeconds * _time.TimestampFrequency);
                    lease.RefusedLimit = charge.Limit;
                    lease.RefusedLeft = Math.Max(0, charge.Limit - after);
                }
                else
                {
                    lease.RefusedUntil = 0;
                }
            }

            // Reported where Redis counted the crossing, so exactly one instance reports it, once the request is
            // decided: units given back for a refused request cross nothing.
            trip.Record(_events, in charge, i, before, after, Math.Min(granted, needs[i]));
        }
    }

    /// <summary>
    /// Redis does not answer: go on locally from the highest count this instance saw, and remember what is
    /// admitted meanwhile, to add to Redis when it answers again.
    /// </summary>
    private async ValueTask<bool> FallbackAsync(LimitBatch batch, CancellationToken cancellationToken)
    {
        for (var i = 0; i < batch.Quotas.Count; i++)
        {
            ref var charge = ref batch.Quotas.Charges[i];
            var lease = Lease(in charge);
            long known;
            lock (lease)
            {
                // What this instance holds was counted in Redis and is still its to use.
                known = lease.KnownUsed - lease.Held;
            }

            _fallback.Raise(charge.Partition, known, charge.ExpiresAt);
        }

        var allowed = await _fallback.ChargeAsync(batch, cancellationToken);
        if (allowed)
        {
            for (var i = 0; i < batch.Quotas.Count; i++)
            {
                ref var charge = ref batch.Quotas.Charges[i];
                var lease = Lease(in charge);
                lock (lease)
                {
                    lease.KnownUsed += charge.Cost;
                    lease.Unreported += charge.Cost;
                }
            }
        }

        return allowed;
    }

    private LeaseState Lease(in QuotaCharge charge) =>
        _leases.GetOrAdd(charge.Partition, static (_, expires) => new LeaseState { ExpiresAtMs = expires }, charge.ExpiresAt?.ToUnixTimeMilliseconds() ?? 0);

    /// <summary>
    /// Forgets, at most once a minute, the leases of counters whose period is over (their Redis keys have expired or
    /// soon will): without it an instance would keep one per customer per month and per key per refill day for good.
    /// </summary>
    private void ForgetEnded()
    {
        var now = _time.GetTimestamp();
        var due = Interlocked.Read(ref _nextForget);
        if (now < due || Interlocked.CompareExchange(ref _nextForget, now + (_time.TimestampFrequency * 60), due) != due)
        {
            return;
        }

        var wall = _time.GetUtcNow().ToUnixTimeMilliseconds();
        foreach (var (partition, lease) in _leases)
        {
            if (lease.ExpiresAtMs != 0 && lease.ExpiresAtMs < wall)
            {
                _leases.TryRemove(KeyValuePair.Create(partition, lease));
            }
        }
    }

    private static partial class Log
    {
        [LoggerMessage(EventIds.QuotaRedisFallback, LogLevel.Warning, "Redis did not answer a quota trip; counting quotas and credits on this instance for a second.")]
        public static partial void RedisFallback(ILogger logger, Exception exception);
    }

    /// <summary>
    /// What one request's trips leased for it, per counter: the units brought for its cost and the counter's
    /// count before and after the last call, whose crossings wait for the request's decision.
    /// </summary>
    private sealed class TripLedger
    {
        public readonly bool[] Called = new bool[QuotaChargeBuffer.Capacity];
        public readonly long[] Brought = new long[QuotaChargeBuffer.Capacity];
        public readonly long[] Before = new long[QuotaChargeBuffer.Capacity];
        public readonly long[] After = new long[QuotaChargeBuffer.Capacity];

        public void Record(IQuotaEvents events, in QuotaCharge charge, int index, long before, long after, long brought)
        {
            // A trip asked again (other requests took what the last one brought): those units were used by them.
            if (Called[index])
            {
                QuotaCrossings.Report(events, in charge, Before[index], After[index]);
            }

            Called[index] = true;
            Brought[index] += brought;
            Before[index] = before;
            After[index] = after;
        }

        /// <summary>The request was admitted, or its units stay counted: report the crossings as they were counted.</summary>
        public void ReportKept(IQuotaEvents events, LimitBatch batch)
        {
            for (var i = 0; i < batch.Quotas.Count; i++)
            {
                if (Called[i])
                {
                    QuotaCrossings.Report(events, in batch.Quotas.Charges[i], Before[i], After[i], batch.Quotas.GivenBack);
                    Called[i] = false;
                }
            }
        }
    }

    private sealed class LeaseState
    {
        /// <summary>Units counted in Redis and not yet used by this instance.</summary>
        public long Held;

        /// <summary>
        /// The count of the Redis counter as this instance last learned it (its own grants included), plus what it
        /// admitted on the fallback since. Not the highest count seen: credits added and units given back lower it.
        /// </summary>
        public long KnownUsed;

        /// <summary>Calls about this counter that tell its count, numbered as they are sent.</summary>
        public long Sent;

        /// <summary>The call <see cref="KnownUsed"/> was learned from: replies of concurrent calls may be handled in any order.</summary>
        public long Applied;

        /// <summary>When this instance last learned the count, or asked for it (timestamp).</summary>
        public long CheckedAt;

        /// <summary>Admitted on the fallback and not yet added to Redis.</summary>
        public long Unreported;

        /// <summary>The limit of the last trip: what <see cref="Held"/> was granted under.</summary>
        public long Limit;

        /// <summary>Redis has told this instance the counter's count (by a trip or a peek).</summary>
        public bool Known;

        /// <summary>When the counter's Redis key expires (Unix ms; 0: never): the lease is forgotten after.</summary>
        public long ExpiresAtMs;

        public long Want = 1;
        public long LastTrip;
        public long RefusedUntil;
        public long RefusedLimit;

        /// <summary>What Redis had left when it refused: a smaller cost may still fit.</summary>
        public long RefusedLeft;

        public long Send() => ++Sent;

        /// <summary>Takes <paramref name="count"/> as the counter's count, unless a call sent later has already told one.</summary>
        public void Learn(long call, long count, long now)
        {
            if (call > Applied)
            {
                Applied = call;
                KnownUsed = count + Unreported;
                CheckedAt = now;
            }
        }

        /// <summary>What is left for clients as this instance knows it: the limit less what Redis counted, plus what this instance still holds.</summary>
        public long RemainingFor(long limit) => Math.Max(0, limit - KnownUsed + Held);
    }
}
