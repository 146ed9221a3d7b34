using System.Collections.Concurrent;
using Gateway.Configuration;
using Gateway.Observability;
using Gateway.Stores;
using Microsoft.Extensions.Options;

namespace Gateway.Keys;

/// <summary>
/// Coalesces "key used at" in memory and writes it to the store every <c>Usage:FlushInterval</c> and
/// at shutdown, so the request path never writes to the store. <c>lastUsedAt</c> is therefore accurate
/// to the flush interval across instances, and exact on the instance that served the request.
/// </summary>
/// <remarks>
/// Each key in use keeps one small entry across flushes, raised in place, and is queued for the next
/// flush by the first use that raises it since the last one. With 100,000 keys in use, a dictionary
/// made anew each flush allocated an entry per key per flush, and another per raise (a 16-byte value
/// is not replaced in place), all of it living just long enough to reach the older GC generations.
/// Entries idle for <see cref="IdleBeforeRemoval"/> are dropped, by a walk once a minute.
/// </remarks>
internal sealed partial class KeyUsageTracker(
    IKeyUsageRecorder store,
    IOptions<GatewayOptions> options,
    TimeProvider time,
    ILogger<KeyUsageTracker> logger) : BackgroundService
{
    private static readonly TimeSpan IdleBeforeRemoval = TimeSpan.FromMinutes(10);

    private readonly ConcurrentDictionary<string, Use> _uses = new(StringComparer.Ordinal);
    private readonly ConcurrentQueue<(string KeyId, Use Use)> _queued = new();
    private long _sweptMinute;

    /// <summary>Keys with an entry right now (for tests).</summary>
    internal int Count => _uses.Count;

    /// <summary>Notes a use of the key at <paramref name="now"/>, read by the caller from this tracker's clock.</summary>
    public void Record(string keyId, DateTimeOffset now)
    {
        // Whole seconds are enough for "last used" and let most requests skip the write below.
        var seconds = now.UtcTicks / TimeSpan.TicksPerSecond;
        if (!_uses.TryGetValue(keyId, out var use))
        {
            use = _uses.GetOrAdd(keyId, static _ => new Use());
        }

        long seen;
        while ((seen = Volatile.Read(ref use.Seconds)) < seconds)
        {
            if (Interlocked.CompareExchange(ref use.Seconds, seconds, seen) == seen)
            {
                Queue(keyId, use);
                return;
            }
        }
    }

    /// <summary>The newest use of a key on this instance, if it is still remembered (flushed or not).</summary>
    public DateTimeOffset? Pending(string keyId) =>
        _uses.TryGetValue(keyId, out var use) && Volatile.Read(ref use.Seconds) is > 0 and var seconds ? At(seconds) : null;

    public async Task FlushAsync(CancellationToken cancellationToken)
    {
        RemoveIdle();
        var queued = _queued.Count;
        if (queued == 0)
        {
            return;
        }

        var taken = new List<(string KeyId, Use Use)>(queued);
        var batch = new List<KeyValuePair<string, DateTimeOffset>>(queued);
        for (var n = 0; n < queued && _queued.TryDequeue(out var entry); n++)
        {
            // Unqueued before its time is read: a later raise queues it again, for the next flush.
            Interlocked.Exchange(ref entry.Use.Queued, 0);
            taken.Add(entry);
            batch.Add(new(entry.KeyId, At(Volatile.Read(ref entry.Use.Seconds))));
        }

        try
        {
            await store.RecordKeyUsageAsync(batch, cancellationToken);
        }
        catch (Exception ex)
        {
            // Queued again so the next flush retries them (with any newer time); usage is not worth failing anything for.
            foreach (var (keyId, use) in taken)
            {
                Queue(keyId, use);
            }

            Log.FlushFailed(logger, batch.Count, ex);
        }
    }

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        await base.StopAsync(cancellationToken);
        await FlushAsync(cancellationToken);
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(options.Value.Usage.FlushInterval, time);
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken))
            {
                await FlushAsync(stoppingToken);
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }

    private static DateTimeOffset At(long seconds) => new(seconds * TimeSpan.TicksPerSecond, TimeSpan.Zero);

    private void Queue(string keyId, Use use)
    {
        if (Volatile.Read(ref use.Queued) == 0 && Interlocked.CompareExchange(ref use.Queued, 1, 0) == 0)
        {
            _queued.Enqueue((keyId, use));
        }
    }

    /// <summary>Once a minute, drops the entries of keys unused for <see cref="IdleBeforeRemoval"/> and already written.</summary>
    private void RemoveIdle()
    {
        var now = time.GetUtcNow().UtcTicks;
        var minute = now / TimeSpan.TicksPerMinute;
        if (minute == _sweptMinute)
        {
            return;
        }

        _sweptMinute = minute;
        var before = (now - IdleBeforeRemoval.Ticks) / TimeSpan.TicksPerSecond;
        foreach (var pair in _uses)
        {
            // A use racing with the removal still reaches the store: it queued the entry it raised.
            if (Volatile.Read(ref pair.Value.Seconds) < before && Volatile.Read(ref pair.Value.Queued) == 0)
            {
                _uses.TryRemove(pair);
            }
        }
    }

    private sealed class Use
    {
        public long Seconds;
        public int Queued;
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = EventIds.KeyUsageFlushFailed, Level = LogLevel.Warning, Message = "Could not write last-used times of {Count} keys; will retry.")]
        public static partial void FlushFailed(ILogger logger, int count, Exception exception);
    }
}
