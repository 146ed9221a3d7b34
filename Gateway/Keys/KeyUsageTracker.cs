using System.Collections.Concurrent;
using Gateway.Configuration;
using Gateway.Observability;
using Gateway.Stores;
using Microsoft.Extensions.Options;

namespace Gateway.Keys;

/// <summary>
/// Coalesces "key used at" in memory and writes it to the store with the flushes every <c>Usage:FlushInterval</c>
/// and at shutdown, so the request path never writes to the store. A key's first use is written by the next
/// flush; after that its time is written once it is a minute past the one the store has, and a newer time still
/// short of that by the walk once a minute (and at shutdown). So <c>lastUsedAt</c> is exact on the instance that
/// served the request and, across instances, at most a minute and a flush interval behind.
/// </summary>
/// <remarks>
/// <para>
/// Each key in use keeps one small entry across flushes, raised in place, and is queued for the next
/// flush by the first use that raises it since the last one. With 100,000 keys in use, a dictionary
/// made anew each flush allocated an entry per key per flush, and another per raise (a 16-byte value
/// is not replaced in place), all of it living just long enough to reach the older GC generations.
/// Entries idle for <see cref="IdleBeforeRemoval"/> are dropped, by a walk once a minute.
/// </para>
/// <para>
/// A write per key per flush was most of the store's background work with many keys in use: at 100,000 keys
/// spread evenly, some 0.7 writes per request on SQLite, a Redis command per key and flush on Redis. At most one a
/// minute per key makes it one for every several requests at that spread, and changes nothing for a busy key.
/// </para>
/// </remarks>
internal sealed partial class KeyUsageTracker(
    IKeyUsageRecorder store,
    IOptions<GatewayOptions> options,
    TimeProvider time,
    ILogger<KeyUsageTracker> logger) : BackgroundService
{
    private static readonly TimeSpan IdleBeforeRemoval = TimeSpan.FromMinutes(10);

    /// <summary>Seconds a key's time must move past the stored one before a use queues it for the next flush.</summary>
    private const long WriteAfterSeconds = 60;

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
                // Otherwise the minute's walk queues it.
                if (seconds - Volatile.Read(ref use.Written) >= WriteAfterSeconds)
                {
                    Queue(keyId, use);
                }

                return;
            }
        }
    }

    /// <summary>The newest use of a key on this instance, if it is still remembered (flushed or not).</summary>
    public DateTimeOffset? Pending(string keyId) =>
        _uses.TryGetValue(keyId, out var use) && Volatile.Read(ref use.Seconds) is > 0 and var seconds ? At(seconds) : null;

    /// <summary>Writes what is due: first uses, times a minute or more past the stored ones, and once a minute every newer time.</summary>
    public Task FlushAsync(CancellationToken cancellationToken) => FlushAsync(everything: false, cancellationToken);

    /// <param name="everything">Also the times the store is less than a minute behind on (at shutdown).</param>
    /// <param name="cancellationToken">Ends the store write.</param>
    public async Task FlushAsync(bool everything, CancellationToken cancellationToken)
    {
        Walk(everything);
        var queued = _queued.Count;
        if (queued == 0)
        {
            return;
        }

        var taken = new List<(string KeyId, Use Use, long Seconds)>(queued);
        var batch = new List<KeyValuePair<string, DateTimeOffset>>(queued);
        for (var n = 0; n < queued && _queued.TryDequeue(out var entry); n++)
        {
            // Unqueued before its time is read: a later raise queues it again (or the walk does), for a later flush.
            Interlocked.Exchange(ref entry.Use.Queued, 0);
            var seconds = Volatile.Read(ref entry.Use.Seconds);
            taken.Add((entry.KeyId, entry.Use, seconds));
            batch.Add(new(entry.KeyId, At(seconds)));
        }

        try
        {
            await store.RecordKeyUsageAsync(batch, cancellationToken);
            foreach (var (_, use, seconds) in taken)
            {
                // Flushes run one at a time (the timer's, then the shutdown's), so this is the only writer.
                if (seconds > Volatile.Read(ref use.Written))
                {
                    Volatile.Write(ref use.Written, seconds);
                }
            }
        }
        catch (Exception ex)
        {
            // Queued again so the next flush retries them (with any newer time); usage is not worth failing anything for.
            foreach (var (keyId, use, _) in taken)
            {
                Queue(keyId, use);
            }

            Log.FlushFailed(logger, batch.Count, ex);
        }
    }

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        await base.StopAsync(cancellationToken);
        await FlushAsync(everything: true, cancellationToken);
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

    /// <summary>
    /// Once a minute (and when <paramref name="everything"/>), queues the keys whose newest time the store does not
    /// have yet, and drops the entries of keys unused for <see cref="IdleBeforeRemoval"/> and already written.
    /// </summary>
    private void Walk(bool everything)
    {
        var now = time.GetUtcNow().UtcTicks;
        var minute = now / TimeSpan.TicksPerMinute;
        if (minute == _sweptMinute && !everything)
        {
            return;
        }

        _sweptMinute = minute;
        var before = (now - IdleBeforeRemoval.Ticks) / TimeSpan.TicksPerSecond;
        foreach (var pair in _uses)
        {
            var use = pair.Value;
            var seconds = Volatile.Read(ref use.Seconds);
            if (seconds > Volatile.Read(ref use.Written))
            {
                Queue(pair.Key, use);
            }
            else if (seconds < before && Volatile.Read(ref use.Queued) == 0)
            {
                // A use racing with the removal still reaches the store: the store's time is over ten minutes
                // old, so the use queued the entry it raised.
                _uses.TryRemove(pair);
            }
        }
    }

    private sealed class Use
    {
        public long Seconds;

        /// <summary>The newest second the store was given; 0 before the first write.</summary>
        public long Written;

        public int Queued;
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = EventIds.KeyUsageFlushFailed, Level = LogLevel.Warning, Message = "Could not write last-used times of {Count} keys; will retry.")]
        public static partial void FlushFailed(ILogger logger, int count, Exception exception);
    }
}
