using Gateway.Observability;

namespace Gateway.RateLimiting;

/// <summary>
/// Writes the embedded store's changed quota and credit counters to SQLite every second and at shutdown, off
/// the request path, and drops counters of ended periods. A crash loses at most the last second's counts.
/// </summary>
internal sealed partial class QuotaCounterFlusher(LocalQuotaCounter counter, IQuotaCounterStore store, TimeProvider time, ILogger<QuotaCounterFlusher> logger) : BackgroundService
{
    public static readonly TimeSpan Interval = TimeSpan.FromSeconds(1);

    public async Task FlushAsync(CancellationToken cancellationToken)
    {
        var dirty = counter.TakeDirty();
        if (dirty.Count == 0)
        {
            return;
        }

        try
        {
            await store.SaveAsync(dirty, cancellationToken);
        }
        catch (Exception ex)
        {
            counter.Redirty(dirty);
            Log.FlushFailed(logger, dirty.Count, ex);
        }
    }

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        await base.StopAsync(cancellationToken);
        await FlushAsync(CancellationToken.None);
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(Interval, time);
        var sweeps = 0;
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken))
            {
                await FlushAsync(stoppingToken);
                if (++sweeps % 3600 == 0)
                {
                    await store.DeleteExpiredAsync(time.GetUtcNow(), stoppingToken);
                }
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
        catch (Exception ex)
        {
            Log.FlushFailed(logger, 0, ex);
        }
    }

    private static partial class Log
    {
        [LoggerMessage(EventIds.QuotaFlushFailed, LogLevel.Warning, "Writing {Count} quota counters to the store failed; retrying on the next flush.")]
        public static partial void FlushFailed(ILogger logger, int count, Exception exception);
    }
}
