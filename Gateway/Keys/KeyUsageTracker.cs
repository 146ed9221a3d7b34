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
internal sealed partial class KeyUsageTracker(
    IKeyUsageRecorder store,
    IOptions<GatewayOptions> options,
    TimeProvider time,
    ILogger<KeyUsageTracker> logger) : BackgroundService
{
    private ConcurrentDictionary<string, DateTimeOffset> _pending = new(StringComparer.Ordinal);

    /// <summary>Notes a use of the key at <paramref name="now"/>, read by the caller from this tracker's clock.</summary>
    public void Record(string keyId, DateTimeOffset now)
    {
        // Whole seconds are enough for "last used" and let most requests skip the write below.
        now = new DateTimeOffset(now.UtcTicks - (now.UtcTicks % TimeSpan.TicksPerSecond), TimeSpan.Zero);
        if (!_pending.TryGetValue(keyId, out var existing) || existing < now)
        {
            _pending[keyId] = now;
        }
    }

    /// <summary>The newest unflushed use of a key on this instance, if any.</summary>
    public DateTimeOffset? Pending(string keyId) => _pending.TryGetValue(keyId, out var at) ? at : null;

    public async Task FlushAsync(CancellationToken cancellationToken)
    {
        if (_pending.IsEmpty)
        {
            return;
        }

        var batch = Interlocked.Exchange(ref _pending, new ConcurrentDictionary<string, DateTimeOffset>(StringComparer.Ordinal));
        try
        {
            await store.RecordKeyUsageAsync(batch.ToArray(), cancellationToken);
        }
        catch (Exception ex)
        {
            // Put the batch back so the next flush retries it; usage is not worth failing anything for.
            foreach (var (keyId, at) in batch)
            {
                _pending.AddOrUpdate(keyId, at, (_, existing) => existing > at ? existing : at);
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

    private static partial class Log
    {
        [LoggerMessage(EventId = EventIds.KeyUsageFlushFailed, Level = LogLevel.Warning, Message = "Could not write last-used times of {Count} keys; will retry.")]
        public static partial void FlushFailed(ILogger logger, int count, Exception exception);
    }
}
