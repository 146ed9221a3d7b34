using Gateway.Domain;
using Gateway.Observability;
using Gateway.Stores;
using Microsoft.Extensions.Options;

namespace Gateway.Webhooks;

/// <summary>
/// Every <c>ExpiryScanInterval</c>, publishes <c>key.expiring</c> for each active key whose expiry is within
/// <c>ExpiringWithin</c>, once per key and expiry time (a store mark, so instances sharing the store agree; a new
/// <c>expiresAt</c> set by PATCH fires again). Organizations without a webhook for the event are skipped, and
/// marked nothing, so a webhook created later still hears of keys already close to expiry.
/// </summary>
internal sealed partial class KeyExpiryScanner(
    IGatewayStore keys, IWebhookStore store, WebhookPublisher publisher, IOptionsMonitor<WebhookOptions> options, TimeProvider time, ILogger<KeyExpiryScanner> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await ScanAsync(stoppingToken);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception ex)
            {
                Log.ScanFailed(logger, ex);
            }

            try
            {
                await Task.Delay(options.CurrentValue.ExpiryScanInterval, time, stoppingToken);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    private const string MarkPrefix = "expiring:";

    /// <summary>
    /// Until when a mark recorded at <paramref name="at"/> must go on refusing a second send, for <c>migrate-store</c>
    /// copying marks to a store that keeps them for a time of their own: a <c>key.expiring</c> mark matters until its key
    /// has expired (the scan skips expired keys), and is kept a day beyond, as the scanner keeps its own. A mark of
    /// another form is kept 30 days.
    /// </summary>
    internal static DateTimeOffset MarkNeededUntil(string mark, DateTimeOffset at)
    {
        var colon = mark.LastIndexOf(':');
        return mark.StartsWith(MarkPrefix, StringComparison.Ordinal)
            && long.TryParse(mark.AsSpan(colon + 1), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var expiresMs)
            ? DateTimeOffset.FromUnixTimeMilliseconds(expiresMs) + TimeSpan.FromDays(1)
            : at + TimeSpan.FromDays(30);
    }

    public async Task ScanAsync(CancellationToken cancellationToken)
    {
        var within = options.CurrentValue.ExpiringWithin;
        foreach (var org in await keys.ListOrganizationsAsync(cancellationToken))
        {
            var hooks = await store.ListAsync(org.Id, cancellationToken);
            if (!hooks.Any(h => h.Enabled && h.Events.Contains(WebhookEvents.KeyExpiring, StringComparer.Ordinal)))
            {
                continue;
            }

            var now = time.GetUtcNow();
            foreach (var key in await keys.ListKeysAsync(org.Id, cancellationToken))
            {
                if (key.StatusAt(now) != KeyStatus.Active || key.ExpiresAt is not { } expires || expires - now > within)
                {
                    continue;
                }

                var mark = MarkPrefix + $"{key.Id}:{expires.ToUnixTimeMilliseconds()}";
                if (await store.MarkOnceAsync(mark, now, within + TimeSpan.FromDays(1), cancellationToken))
                {
                    await publisher.PublishKeyAsync(org.Id, WebhookEvents.KeyExpiring, key, cancellationToken);
                }
            }
        }
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = EventIds.WebhookExpiryScanFailed, Level = LogLevel.Warning, Message = "The scan for keys close to expiry failed; retried at the next interval.")]
        public static partial void ScanFailed(ILogger logger, Exception exception);
    }
}
