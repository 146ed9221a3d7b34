using Gateway.Configuration;
using Gateway.Observability;
using Microsoft.Extensions.Options;

namespace Gateway.Usage;

/// <summary>
/// Drains <see cref="UsageCounters"/> into the store every <c>Usage:FlushInterval</c> and once more
/// after the server has stopped (so SIGTERM loses no counted request), and compacts stored usage every
/// <c>Usage:CompactionInterval</c>: minutes older than <c>Usage:MinuteResolutionFor</c> become hours,
/// anything older than <c>Usage:Retention</c> goes.
/// </summary>
internal sealed partial class UsageFlusher(
    UsageCounters counters,
    IUsageStore store,
    IOptions<GatewayOptions> options,
    TimeProvider time,
    ILogger<UsageFlusher> logger) : BackgroundService, IHostedLifecycleService
{
    public async Task FlushAsync(CancellationToken cancellationToken)
    {
        // Also keeps flushes one at a time: the shutdown flush can overlap the timer's last one.
        await counters.HandOver.WaitAsync(cancellationToken);
        try
        {
            // Even when empty: a store may hold a part of an earlier batch to send again.
            var batch = counters.Drain();
            try
            {
                await store.AddAsync(batch, cancellationToken);
            }
            catch (UsagePartlyWrittenException ex)
            {
                counters.Restore(ex.Unwritten);
                Log.FlushFailed(logger, batch.Count, ex.InnerException!);
            }
            catch (Exception ex)
            {
                // Kept in memory for the next flush: an outage delays usage, it does not lose it.
                counters.Restore(batch);
                Log.FlushFailed(logger, batch.Count, ex);
            }
        }
        finally
        {
            counters.HandOver.Release();
        }
    }

    public async Task CompactAsync(CancellationToken cancellationToken)
    {
        var usage = options.Value.Usage;
        var now = time.GetUtcNow();
        // Whole hours only, so an hour is never split between minute rows and its rolled-up row.
        var rollUpBefore = Floor(now - usage.MinuteResolutionFor, TimeSpan.FromHours(1));
        try
        {
            await store.CompactAsync(rollUpBefore, now - usage.Retention, cancellationToken);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            Log.CompactionFailed(logger, ex);
        }
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var usage = options.Value.Usage;
        var nextCompaction = time.GetUtcNow();
        using var timer = new PeriodicTimer(usage.FlushInterval, time);
        try
        {
            do
            {
                await FlushAsync(stoppingToken);
                if (time.GetUtcNow() >= nextCompaction)
                {
                    await CompactAsync(stoppingToken);
                    nextCompaction = time.GetUtcNow() + usage.CompactionInterval;
                }
            }
            while (await timer.WaitForNextTickAsync(stoppingToken));
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }

    public Task StartingAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StartedAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StoppingAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    /// <summary>Runs after every hosted service, the web server included, has stopped: no request can still be counting.</summary>
    public async Task StoppedAsync(CancellationToken cancellationToken)
    {
        try
        {
            await FlushAsync(cancellationToken);
        }
        catch (OperationCanceledException)
        {
            Log.ShutdownFlushCancelled(logger);
        }
    }

    private static DateTimeOffset Floor(DateTimeOffset value, TimeSpan unit) =>
        new(value.UtcTicks - (value.UtcTicks % unit.Ticks), TimeSpan.Zero);

    private static partial class Log
    {
        [LoggerMessage(EventId = EventIds.UsageFlushFailed, Level = LogLevel.Warning, Message = "Could not write a batch of {Count} usage records; what was not written is kept for the next flush.")]
        public static partial void FlushFailed(ILogger logger, int count, Exception exception);

        [LoggerMessage(EventId = EventIds.UsageCompactionFailed, Level = LogLevel.Warning, Message = "Usage compaction failed; will retry at the next interval.")]
        public static partial void CompactionFailed(ILogger logger, Exception exception);

        [LoggerMessage(EventId = EventIds.UsageShutdownFlushCancelled, Level = LogLevel.Warning, Message = "Shutdown ended before pending usage was written.")]
        public static partial void ShutdownFlushCancelled(ILogger logger);
    }
}
