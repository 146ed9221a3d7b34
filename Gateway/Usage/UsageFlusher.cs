using Gateway.Configuration;
using Gateway.Observability;
using Microsoft.Extensions.Options;

namespace Gateway.Usage;

/// <summary>
/// Drains <see cref="UsageCounters"/> into the store every <c>Usage:FlushInterval</c> and once more
/// after the server has stopped, retried until the host's shutdown timeout while the store fails (so SIGTERM loses
/// no counted request unless the outage outlasts it, and then says how many), and compacts stored usage every
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
    // The shutdown flush's pauses between tries: short at first (a Redis frozen for a moment), never longer than a
    // few store timeouts, so counts written when the store comes back still beat the host's shutdown timeout.
    private static readonly TimeSpan FirstRetry = TimeSpan.FromMilliseconds(200);
    private static readonly TimeSpan LongestRetry = TimeSpan.FromSeconds(2);

    // What the store said it holds to send again after the last failed flush (Redis: parts sent without an answer);
    // nothing once a flush succeeds. Read and written under HandOver.
    private (int Records, long Requests) _inDoubt;

    /// <summary>Writes what was counted since the last flush; what the store does not take is kept for the next one.</summary>
    public async Task FlushAsync(CancellationToken cancellationToken)
    {
        if (await TryFlushAsync(cancellationToken) is { } failure)
        {
            Log.FlushFailed(logger, failure.Records, failure.Requests, failure.Error);
        }
    }

    private async Task<Failure?> TryFlushAsync(CancellationToken cancellationToken)
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
                _inDoubt = default;
                return null;
            }
            catch (UsagePartlyWrittenException ex)
            {
                counters.Restore(ex.Unwritten);
                _inDoubt = (ex.InDoubtRecords, ex.InDoubtRequests);
                return Failed(ex.Unwritten, ex.InnerException ?? ex);
            }
            catch (Exception ex)
            {
                // Kept in memory for the next flush: an outage delays usage, it does not lose it.
                counters.Restore(batch);
                return Failed(batch, ex);
            }
        }
        finally
        {
            counters.HandOver.Release();
        }
    }

    private Failure Failed(IReadOnlyList<UsageRecord> unwritten, Exception error) =>
        new(unwritten.Count + _inDoubt.Records, Requests(unwritten) + _inDoubt.Requests, error);

    private static long Requests(IEnumerable<UsageRecord> records) => records.Sum(r => r.Counts.Sum());

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

    /// <summary>
    /// Runs after every hosted service, the web server included, has stopped: no request can still be counting. A
    /// store that fails is tried again until <paramref name="cancellationToken"/>, the host's shutdown timeout, ends:
    /// there is no next flush, and what is not written then is lost, which is logged as an error with its size.
    /// </summary>
    public async Task StoppedAsync(CancellationToken cancellationToken)
    {
        var retry = FirstRetry;
        var warned = false;
        try
        {
            while (await TryFlushAsync(cancellationToken) is { } failure)
            {
                if (!warned)
                {
                    Log.ShutdownFlushRetrying(logger, failure.Records, failure.Requests, failure.Error);
                    warned = true;
                }

                // Real time, not the injected clock: the host's shutdown timeout that ends this runs on real time.
                await Task.Delay(retry, cancellationToken);
                retry = TimeSpan.FromTicks(Math.Min(retry.Ticks * 2, LongestRetry.Ticks));
            }

            return;
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
        }

        // Everything still in memory: the restored batches and anything no flush took. After the server stopped and
        // the timer's last flush, nothing else touches the counters.
        var left = counters.Snapshot().ToList();
        Log.UsageLost(logger, Requests(left), left.Count, _inDoubt.Requests);
    }

    private static DateTimeOffset Floor(DateTimeOffset value, TimeSpan unit) =>
        new(value.UtcTicks - (value.UtcTicks % unit.Ticks), TimeSpan.Zero);

    private sealed record Failure(int Records, long Requests, Exception Error);

    private static partial class Log
    {
        [LoggerMessage(EventId = EventIds.UsageFlushFailed, Level = LogLevel.Warning, Message = "Could not write {Records} usage records ({Requests} requests); they are kept for the next flush.")]
        public static partial void FlushFailed(ILogger logger, int records, long requests, Exception exception);

        [LoggerMessage(EventId = EventIds.UsageCompactionFailed, Level = LogLevel.Warning, Message = "Usage compaction failed; will retry at the next interval.")]
        public static partial void CompactionFailed(ILogger logger, Exception exception);

        [LoggerMessage(EventId = EventIds.UsageLostAtShutdown, Level = LogLevel.Error, Message = "Shutdown ended before pending usage was written: the counts of {LostRequests} requests ({LostRecords} records) are lost; {InDoubtRequests} more were sent to the store without an answer and are counted only if it ran the write.")]
        public static partial void UsageLost(ILogger logger, long lostRequests, int lostRecords, long inDoubtRequests);

        [LoggerMessage(EventId = EventIds.UsageShutdownFlushRetrying, Level = LogLevel.Warning, Message = "Could not write {Records} usage records ({Requests} requests) at shutdown; trying again until the shutdown timeout.")]
        public static partial void ShutdownFlushRetrying(ILogger logger, int records, long requests, Exception exception);
    }
}
