using System.Collections.Concurrent;

namespace Gateway.RateLimiting;

/// <summary>
/// Quota and credit counters of one instance: exact, in memory, and, on the embedded store, persisted by
/// <see cref="QuotaCounterFlusher"/> (a counter is read from the store on its first use after a start, and
/// written back at most a second after it changes, and at shutdown). Also the Redis counter's fallback while
/// Redis is down (then without a store).
/// </summary>
internal sealed class LocalQuotaCounter(IQuotaCounterStore? store, IQuotaEvents events, TimeProvider time) : IQuotaCounter
{
    private readonly ConcurrentDictionary<string, Counter> _counters = new(StringComparer.Ordinal);

    public ValueTask<bool> ChargeAsync(LimitBatch batch, CancellationToken cancellationToken)
    {
        for (var i = 0; i < batch.Quotas.Count; i++)
        {
            if (!Get(batch.Quotas.Charges[i].Partition, batch.Quotas.Charges[i].ExpiresAt).Loaded.IsCompletedSuccessfully)
            {
                return LoadThenChargeAsync(batch, cancellationToken);
            }
        }

        return ValueTask.FromResult(Charge(batch));
    }

    public async ValueTask<bool> PeekAsync(LimitBatch batch, CancellationToken cancellationToken)
    {
        for (var i = 0; i < batch.Quotas.Count; i++)
        {
            var counter = Get(batch.Quotas.Charges[i].Partition, batch.Quotas.Charges[i].ExpiresAt);
            try
            {
                await counter.Loaded.WaitAsync(cancellationToken);
            }
            catch (Exception) when (!cancellationToken.IsCancellationRequested)
            {
                return false; // the store did not answer: nothing known to report
            }

            lock (counter)
            {
                batch.Quotas.Charges[i].Remaining = Math.Max(0, batch.Quotas.Charges[i].Limit - counter.Used);
            }
        }

        return true;
    }

    public async Task<long> UsedAsync(string partition, CancellationToken cancellationToken)
    {
        var counter = Get(partition, null);
        await counter.Loaded.WaitAsync(cancellationToken);
        lock (counter)
        {
            return counter.Used;
        }
    }

    public async Task<long> AdjustAsync(string partition, long delta, DateTimeOffset? expiresAt, CancellationToken cancellationToken)
    {
        var counter = Get(partition, expiresAt);
        await counter.Loaded.WaitAsync(cancellationToken);
        lock (counter)
        {
            counter.Used += delta;
            counter.ExpiresAt = expiresAt ?? counter.ExpiresAt;
            counter.Dirty = true;
            return counter.Used;
        }
    }

    /// <summary>Counters changed since the last call, for the flusher; drops those whose period is over.</summary>
    internal List<(string Partition, long Used, DateTimeOffset? ExpiresAt)> TakeDirty()
    {
        var now = time.GetUtcNow();
        var dirty = new List<(string, long, DateTimeOffset?)>();
        foreach (var (partition, counter) in _counters)
        {
            lock (counter)
            {
                if (counter.Dirty)
                {
                    dirty.Add((partition, counter.Used, counter.ExpiresAt));
                    counter.Dirty = false;
                }
                else if (counter.ExpiresAt is { } expires && expires < now)
                {
                    _counters.TryRemove(partition, out _);
                }
            }
        }

        return dirty;
    }

    /// <summary>Marks counters dirty again after a failed write, so the next flush retries them.</summary>
    internal void Redirty(IEnumerable<(string Partition, long Used, DateTimeOffset? ExpiresAt)> counters)
    {
        foreach (var (partition, _, _) in counters)
        {
            if (_counters.TryGetValue(partition, out var counter))
            {
                lock (counter)
                {
                    counter.Dirty = true;
                }
            }
        }
    }

    /// <summary>Sets a counter to at least <paramref name="used"/> (the Redis counter seeds its fallback from what it last knew).</summary>
    internal void Raise(string partition, long used, DateTimeOffset? expiresAt)
    {
        var counter = Get(partition, expiresAt);
        lock (counter)
        {
            counter.Used = Math.Max(counter.Used, used);
        }
    }

    private async ValueTask<bool> LoadThenChargeAsync(LimitBatch batch, CancellationToken cancellationToken)
    {
        for (var i = 0; i < batch.Quotas.Count; i++)
        {
            await Get(batch.Quotas.Charges[i].Partition, batch.Quotas.Charges[i].ExpiresAt).Loaded.WaitAsync(cancellationToken);
        }

        return Charge(batch);
    }

    private bool Charge(LimitBatch batch)
    {
        ref var quotas = ref batch.Quotas;
        var first = Get(quotas.Charges[0].Partition, null);
        var second = quotas.Count > 1 ? Get(quotas.Charges[1].Partition, null) : null;

        // Two counters are locked in a fixed order (by name), so two requests sharing them cannot deadlock.
        var swap = second is not null && string.CompareOrdinal(quotas.Charges[0].Partition, quotas.Charges[1].Partition) > 0;
        var a = swap ? second! : first;
        var b = swap ? first : second;
        lock (a)
        {
            if (b is null)
            {
                return Decide(ref quotas, first, second);
            }

            lock (b)
            {
                return Decide(ref quotas, first, second);
            }
        }
    }

    private bool Decide(ref QuotaBatch quotas, Counter first, Counter? second)
    {
        var allowed = true;
        for (var i = 0; i < quotas.Count; i++)
        {
            ref var charge = ref quotas.Charges[i];
            var counter = i == 0 ? first : second!;
            charge.Allowed = counter.Used + charge.Cost <= charge.Limit;
            charge.Remaining = Math.Max(0, charge.Limit - counter.Used);
            allowed &= charge.Allowed;
        }

        if (!allowed)
        {
            return false;
        }

        for (var i = 0; i < quotas.Count; i++)
        {
            ref var charge = ref quotas.Charges[i];
            var counter = i == 0 ? first : second!;
            var before = counter.Used;
            counter.Used += charge.Cost;
            counter.Dirty = true;
            charge.Remaining = Math.Max(0, charge.Limit - counter.Used);
            QuotaCrossings.Report(events, in charge, before, counter.Used, quotas.GivenBack);
        }

        return true;
    }

    private Counter Get(string partition, DateTimeOffset? expiresAt)
    {
        if (_counters.TryGetValue(partition, out var counter))
        {
            return counter;
        }

        var fresh = new Counter(expiresAt, loaded: store is null);
        counter = _counters.GetOrAdd(partition, fresh);
        if (ReferenceEquals(counter, fresh) && store is not null)
        {
            _ = LoadAsync(partition, fresh);
        }

        return counter;
    }

    private async Task LoadAsync(string partition, Counter counter)
    {
        try
        {
            var used = await store!.LoadAsync(partition, CancellationToken.None);
            lock (counter)
            {
                counter.Used += used;
            }

            counter.Done.TrySetResult();
        }
        catch (Exception ex)
        {
            // The next request reads the store again.
            _counters.TryRemove(KeyValuePair.Create(partition, counter));
            counter.Done.TrySetException(ex);
        }
    }

    private sealed class Counter
    {
        public readonly TaskCompletionSource Done = new(TaskCreationOptions.RunContinuationsAsynchronously);
        public DateTimeOffset? ExpiresAt;
        public long Used;
        public bool Dirty;

        public Counter(DateTimeOffset? expiresAt, bool loaded)
        {
            ExpiresAt = expiresAt;
            if (loaded)
            {
                Done.SetResult();
            }
        }

        public Task Loaded => Done.Task;
    }
}
