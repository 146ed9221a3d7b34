using System.Text.Json;
using Gateway.Configuration;
using Gateway.Observability;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace Gateway.Stores.Redis;

/// <summary>
/// The receiving half of cross-instance cache invalidation on Redis: the hashes <see cref="RedisKeyChangePublisher"/>
/// announced on the store's channel, except this instance's own (see <see cref="RedisKeyChangePublisher.Origin"/>);
/// another instance's marker is passed on with the hashes and ignored as no hash. A reconnect, an unreadable
/// message or this instance's own failed publish means announcements may have been missed: the subscriber is
/// told everything it holds is stale.
/// </summary>
internal sealed partial class RedisKeyChangeFeed(
    IConnectionMultiplexer redis,
    RedisKeyChangePublisher publisher,
    IOptions<GatewayOptions> options,
    ILogger<RedisKeyChangeFeed> logger) : IKeyChangeFeed
{
    private readonly RedisKeys _keys = new(options.Value.Store.RedisPrefix);

    public async Task<IDisposable> SubscribeAsync(Action<string[]> changed, Action stale, CancellationToken cancellationToken)
    {
        var subscription = new Subscription(redis, publisher, stale);
        try
        {
            await redis.GetSubscriber().SubscribeAsync(_keys.Changes, (_, message) =>
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
                    stale();
                    return;
                }

                if (hashes.Length > 0 && hashes[0] == publisher.Origin)
                {
                    return;
                }

                changed(hashes);
            });
        }
        catch (Exception ex) when (ex is RedisException or TimeoutException)
        {
            // StackExchange.Redis re-establishes subscriptions when the connection comes up.
            Log.SubscribeFailed(logger, ex);
        }

        return subscription;
    }

    private sealed class Subscription : IDisposable
    {
        private readonly IConnectionMultiplexer _redis;
        private readonly RedisKeyChangePublisher _publisher;
        private readonly Action _stale;

        public Subscription(IConnectionMultiplexer redis, RedisKeyChangePublisher publisher, Action stale)
        {
            _redis = redis;
            _publisher = publisher;
            _stale = stale;
            redis.ConnectionRestored += OnConnectionRestored;
            publisher.PublishFailed += stale;
        }

        public void Dispose()
        {
            _redis.ConnectionRestored -= OnConnectionRestored;
            _publisher.PublishFailed -= _stale;
        }

        private void OnConnectionRestored(object? sender, ConnectionFailedEventArgs e) => _stale();
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = EventIds.KeyChangeSubscribeFailed, Level = LogLevel.Warning, Message = "Could not subscribe to key changes yet; will resubscribe on reconnect.")]
        public static partial void SubscribeFailed(ILogger logger, Exception exception);
    }
}
