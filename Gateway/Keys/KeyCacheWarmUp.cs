using System.Diagnostics;
using Gateway.Configuration;
using Gateway.Domain;
using Gateway.Observability;
using Gateway.Stores;
using Microsoft.Extensions.Options;

namespace Gateway.Keys;

/// <summary>
/// Fills the key cache at start (<c>Gateway:Cache:WarmUp</c>) with the keys that can open a request, most recently
/// used first, up to the size a full cache is trimmed to: an instance that starts or restarts under load then reads
/// its keys in a few bulk reads instead of one store read per key on each key's first request. Requests are served
/// meanwhile, a key not loaded yet is read on its own as before. A key change during the read could make what was
/// read stale, and a reconnect makes every cached entry stale: the warm-up stops at the first and starts over, keeping
/// what it cached before a change (the change itself dropped what it touched) and replacing what the reconnect made
/// stale; after <see cref="Attempts"/> it leaves the rest to the requests.
/// </summary>
internal sealed partial class KeyCacheWarmUp(
    IGatewayStore store,
    KeyResolver resolver,
    IOptions<GatewayOptions> options,
    TimeProvider time,
    ILogger<KeyCacheWarmUp> logger) : BackgroundService
{
    private const int Page = 1_000;
    private const int Attempts = 3;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (!options.Value.Cache.WarmUp || store is not IKeyScan scan)
        {
            return;
        }

        // The host's start does not wait for this.
        await Task.Yield();
        var started = Stopwatch.GetTimestamp();
        var (read, cached) = (0, 0);
        try
        {
            for (var attempt = 1; attempt <= Attempts; attempt++)
            {
                var generation = resolver.Generation;
                var readSince = time.GetUtcNow();
                var page = new List<ApiKeyRecord>(Page);
                await foreach (var record in scan.ReadUsableKeysAsync(readSince, resolver.WarmUpLimit, stoppingToken))
                {
                    read++;
                    page.Add(record);
                    if (page.Count == Page)
                    {
                        cached += resolver.Preload(page, generation, readSince);
                        page.Clear();
                        if (generation != resolver.Generation)
                        {
                            break;
                        }
                    }
                }

                cached += resolver.Preload(page, generation, readSince);
                if (generation == resolver.Generation)
                {
                    // A store without keys (a new install) has nothing to report.
                    if (read > 0)
                    {
                        var elapsed = Stopwatch.GetElapsedTime(started);
                        Log.Warmed(logger, cached, read, (long)elapsed.TotalMilliseconds);
                    }

                    return;
                }
            }

            Log.Interrupted(logger, cached, Attempts);
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
        catch (StoreDamagedException ex)
        {
            // Not an outage that passes: every key the damage covers gets 503 until the store is repaired.
            Log.StoreDamaged(logger, ex, cached, ex.Message);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            // Whatever went wrong (the store down, a row it cannot read), the warm-up only saves work: each key is
            // read on its first request instead, and a background service that throws would stop the host.
            Log.Failed(logger, ex, cached);
        }
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = EventIds.KeyCacheWarmed, Level = LogLevel.Information, Message = "Key cache warmed with {Cached} entries from {Read} keys read in {Milliseconds} ms.")]
        public static partial void Warmed(ILogger logger, int cached, int read, long milliseconds);

        [LoggerMessage(EventId = EventIds.KeyCacheWarmUpFailed, Level = LogLevel.Warning, Message = "Key cache warm-up stopped after {Cached} entries: the store read failed. Keys are read on their first request instead.")]
        public static partial void Failed(ILogger logger, Exception exception, int cached);

        [LoggerMessage(EventId = EventIds.KeyCacheWarmUpStoreDamaged, Level = LogLevel.Error, Message = "Key cache warm-up stopped after {Cached} entries: {Reason} /readyz answers 503 until the gateway restarts on a sound store.")]
        public static partial void StoreDamaged(ILogger logger, Exception exception, int cached, string reason);

        [LoggerMessage(EventId = EventIds.KeyCacheWarmUpInterrupted, Level = LogLevel.Warning, Message = "Key cache warm-up stopped after {Cached} entries: keys changed during each of {Attempts} reads. Keys are read on their first request instead.")]
        public static partial void Interrupted(ILogger logger, int cached, int attempts);
    }
}
