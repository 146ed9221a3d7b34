using System.Collections.Concurrent;
using System.Text.Json;
using Gateway.Configuration;
using Gateway.Observability;
using Microsoft.Extensions.Options;
using Polly;
using Polly.Retry;
using StackExchange.Redis;

namespace Gateway.Stores.Redis;

/// <summary>
/// The sending half of cross-instance cache invalidation: a key change is published with the affected
/// hashes on the store's channel. A publish that fails is retried at once; when Redis still does not
/// take it the hashes are kept and published again in the background until Redis does (at the latest
/// when the connection comes back), and <see cref="PublishFailed"/> tells this instance's cache not to
/// trust what it holds meanwhile. The receiving half lives next to the cache (Keys/KeyChangeSubscriber).
/// </summary>
internal sealed partial class RedisKeyChangePublisher : IKeyChangeNotifier, IHostedService, IDisposable
{
    /// <summary>Most hashes one message carries when the backlog is delivered.</summary>
    private const int MaxHashesPerMessage = 500;

    private readonly IConnectionMultiplexer _redis;
    private readonly ILogger<RedisKeyChangePublisher> _logger;
    private readonly RedisKeys _keys;
    private readonly ResiliencePipeline _inline;
    private readonly ResiliencePipeline _background;
    private readonly ConcurrentDictionary<string, byte> _undelivered = new(StringComparer.Ordinal);
    private readonly SemaphoreSlim _wake = new(0);
    private readonly CancellationTokenSource _stopping = new();
    private Task _redelivery = Task.CompletedTask;

    public RedisKeyChangePublisher(IConnectionMultiplexer redis, IOptions<GatewayOptions> options, ILogger<RedisKeyChangePublisher> logger)
    {
        _redis = redis;
        _logger = logger;
        _keys = new RedisKeys(options.Value.Store.RedisPrefix);
        // Whatever RedisCalls counts as Redis not answering: besides errors and timeouts, the cancellation
        // StackExchange.Redis gives pending calls when it gives a connection up (a frozen server), and the
        // InvalidOperationException of a publish that meets the connection being torn down (a killed server).
        var handle = new PredicateBuilder().Handle<Exception>(static ex => RedisCalls.IsFailure(ex));

        // Real time, not the injected clock: these waits are for a network to recover.
        // Inline: a blip is ridden out before the admin call returns, without holding it for long.
        _inline = new ResiliencePipelineBuilder()
            .AddRetry(new RetryStrategyOptions { ShouldHandle = handle, MaxRetryAttempts = 2, Delay = TimeSpan.FromMilliseconds(50), BackoffType = DelayBackoffType.Exponential })
            .Build();

        // Background: until delivered or the process stops.
        _background = new ResiliencePipelineBuilder()
            .AddRetry(new RetryStrategyOptions { ShouldHandle = handle, MaxRetryAttempts = int.MaxValue, Delay = TimeSpan.FromMilliseconds(200), MaxDelay = TimeSpan.FromSeconds(5), BackoffType = DelayBackoffType.Exponential, UseJitter = true })
            .Build();
    }

    /// <summary>Raised when a change could not be published: entries loaded before the write landed must not be trusted.</summary>
    public event Action? PublishFailed;

    /// <summary>Hashes whose change could not be published yet.</summary>
    internal int Undelivered => _undelivered.Count;

    /// <summary>
    /// The first element of every message this process publishes: its feed skips its own echoes, since this
    /// instance dropped the hashes before publishing, and an echo arriving late would drop what was read from
    /// the store since. Not a hash, so an instance that does not know the marker ignores it.
    /// </summary>
    internal string Origin { get; } = "@" + Guid.NewGuid().ToString("N");

    public async Task PublishAsync(IReadOnlyList<string> hashes, CancellationToken cancellationToken)
    {
        if (hashes.Count == 0)
        {
            return;
        }

        try
        {
            // Never the caller's token: the change is stored, so its announcement must go out even if the caller left.
            await _inline.ExecuteAsync(static async (state, _) => await state.self.PublishOnceAsync(state.hashes), (self: this, hashes), CancellationToken.None);
        }
        catch (Exception ex) when (RedisCalls.IsFailure(ex, CancellationToken.None))
        {
            Log.PublishFailed(_logger, ex);
            foreach (var hash in hashes)
            {
                _undelivered.TryAdd(hash, 0);
            }

            PublishFailed?.Invoke();
            _wake.Release();
        }
    }

    public Task StartAsync(CancellationToken cancellationToken)
    {
        _redis.ConnectionRestored += OnConnectionRestored;
        _redelivery = Task.Run(() => RedeliverAsync(_stopping.Token), CancellationToken.None);
        return Task.CompletedTask;
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        _redis.ConnectionRestored -= OnConnectionRestored;
        _stopping.Cancel();
        try
        {
            await _redelivery.WaitAsync(cancellationToken);
        }
        catch (OperationCanceledException)
        {
        }

        if (!_undelivered.IsEmpty)
        {
            Log.Abandoned(_logger, _undelivered.Count);
        }
    }

    // Only ends the background loop: the container may dispose this before or after StopAsync runs,
    // so nothing here is disposed that StopAsync still touches.
    public void Dispose() => _stopping.Cancel();

    private async Task RedeliverAsync(CancellationToken stopping)
    {
        while (!stopping.IsCancellationRequested)
        {
            try
            {
                await _wake.WaitAsync(stopping);
                while (!_undelivered.IsEmpty)
                {
                    var batch = _undelivered.Keys.Take(MaxHashesPerMessage).ToArray();
                    await _background.ExecuteAsync(static async (state, _) => await state.self.PublishOnceAsync(state.batch), (self: this, batch), stopping);
                    foreach (var hash in batch)
                    {
                        _undelivered.TryRemove(hash, out _);
                    }

                    Log.Delivered(_logger, batch.Length);
                }
            }
            catch (OperationCanceledException) when (stopping.IsCancellationRequested)
            {
                return;
            }
        }
    }

    private async Task PublishOnceAsync(IReadOnlyList<string> hashes) =>
        await _redis.GetSubscriber().PublishAsync(_keys.Changes, JsonSerializer.Serialize([Origin, .. hashes], RedisJsonContext.Default.StringArray));

    private void OnConnectionRestored(object? sender, ConnectionFailedEventArgs e)
    {
        if (!_undelivered.IsEmpty)
        {
            _wake.Release();
        }
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = EventIds.KeyChangePublishFailed, Level = LogLevel.Warning, Message = "Could not publish a key change; retrying in the background until Redis takes it.")]
        public static partial void PublishFailed(ILogger logger, Exception exception);

        [LoggerMessage(EventId = EventIds.KeyChangesRedelivered, Level = LogLevel.Information, Message = "Published {Count} key changes that had failed to go out earlier.")]
        public static partial void Delivered(ILogger logger, int count);

        [LoggerMessage(EventId = EventIds.KeyChangesAbandoned, Level = LogLevel.Error, Message = "Stopping with {Count} key changes never published; other instances follow within Cache:FreshFor.")]
        public static partial void Abandoned(ILogger logger, int count);
    }
}
