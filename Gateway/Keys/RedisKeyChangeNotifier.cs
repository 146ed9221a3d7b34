using System.Text.Json;
using Gateway.Configuration;
using Gateway.Stores;
using Gateway.Stores.Redis;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace Gateway.Keys;

/// <summary>
/// Cross-instance cache invalidation: a key change on one instance is published with the affected
/// hashes, and every instance drops them from its cache. A lost message is bounded by
/// <c>Cache:FreshFor</c>; after a reconnect every cached key is re-read (messages may have been missed)
/// but kept as the outage fallback, so a flapping connection does not turn known keys into 503s.
/// </summary>
internal sealed partial class RedisKeyChangeNotifier(
    IConnectionMultiplexer redis,
    IOptions<GatewayOptions> options,
    KeyResolver resolver,
    ILogger<RedisKeyChangeNotifier> logger) : IKeyChangeNotifier, IHostedService
{
    private readonly RedisKeys _keys = new(options.Value.Store.RedisPrefix);

    public async Task PublishAsync(IReadOnlyList<string> hashes, CancellationToken cancellationToken)
    {
        try
        {
            await redis.GetSubscriber().PublishAsync(_keys.Changes, JsonSerializer.Serialize(hashes.ToArray(), RedisJsonContext.Default.StringArray));
        }
        catch (Exception ex) when (ex is RedisException or TimeoutException)
        {
            // The change is stored; other instances will see it when their fresh period ends.
            Log.PublishFailed(logger, ex);
        }
    }

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        redis.ConnectionRestored += OnConnectionRestored;
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
        [LoggerMessage(EventId = 1400, Level = LogLevel.Warning, Message = "Could not publish a key change; other instances follow within Cache:FreshFor.")]
        public static partial void PublishFailed(ILogger logger, Exception exception);

        [LoggerMessage(EventId = 1401, Level = LogLevel.Warning, Message = "Could not subscribe to key changes yet; will resubscribe on reconnect.")]
        public static partial void SubscribeFailed(ILogger logger, Exception exception);
    }
}
