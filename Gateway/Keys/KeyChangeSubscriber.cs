using System.Text.Json;
using Gateway.Configuration;
using Gateway.Observability;
using Gateway.Stores.Redis;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace Gateway.Keys;

/// <summary>
/// The receiving half of cross-instance cache invalidation: drops the hashes another instance (or this
/// one) announced from the <see cref="KeyResolver"/> cache. After a reconnect, or when this instance
/// could not announce its own change, every cached key is re-read (messages may have been missed) but
/// kept as the outage fallback, so a flapping connection does not turn known keys into 503s.
/// </summary>
internal sealed partial class KeyChangeSubscriber(
    IConnectionMultiplexer redis,
    RedisKeyChangePublisher publisher,
    KeyResolver resolver,
    IOptions<GatewayOptions> options,
    ILogger<KeyChangeSubscriber> logger) : IHostedService
{
    private readonly RedisKeys _keys = new(options.Value.Store.RedisPrefix);

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        redis.ConnectionRestored += OnConnectionRestored;
        publisher.PublishFailed += resolver.MarkAllStale;
        try
        {
            await redis.GetSubscriber().SubscribeAsync(_keys.Changes, OnMessage);
        }
        catch (Exception ex) when (ex is RedisException or TimeoutException)
        {
            // StackExchange.Redis re-establishes subscriptions when the connection comes up.
            Log.SubscribeFailed(logger, ex);
        }
    }

    public Task StopAsync(CancellationToken cancellationToken)
    {
        redis.ConnectionRestored -= OnConnectionRestored;
        publisher.PublishFailed -= resolver.MarkAllStale;
        return Task.CompletedTask;
    }

    private void OnMessage(RedisChannel channel, RedisValue message)
    {
        string[]? hashes = null;
        try
        {
            hashes = JsonSerializer.Deserialize((string)message!, RedisJsonContext.Default.StringArray);
        }
        catch (JsonException)
        {
        }

        if (hashes is null)
        {
            resolver.MarkAllStale();
            return;
        }

        resolver.Invalidate(hashes);
    }

    private void OnConnectionRestored(object? sender, ConnectionFailedEventArgs e) => resolver.MarkAllStale();

    private static partial class Log
    {
        [LoggerMessage(EventId = EventIds.KeyChangeSubscribeFailed, Level = LogLevel.Warning, Message = "Could not subscribe to key changes yet; will resubscribe on reconnect.")]
        public static partial void SubscribeFailed(ILogger logger, Exception exception);
    }
}
