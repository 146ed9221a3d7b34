using Gateway.Stores;

namespace Gateway.Keys;

/// <summary>
/// Applies the store's change feed to the <see cref="KeyResolver"/> cache: drops the hashes another instance
/// announced (this one's own changes were dropped by <see cref="KeyManager"/> before it announced them). When
/// announcements may have been missed (after a reconnect, or when this instance could not announce its own change)
/// every cached key is re-read but kept as the outage fallback, so a flapping connection does not turn known keys
/// into 503s. With the embedded store nothing arrives.
/// </summary>
internal sealed class KeyChangeSubscriber(IKeyChangeFeed feed, KeyResolver resolver) : IHostedService
{
    private IDisposable? _subscription;

    public async Task StartAsync(CancellationToken cancellationToken) =>
        _subscription = await feed.SubscribeAsync(hashes => resolver.Invalidate(hashes), resolver.MarkAllStale, cancellationToken);

    public Task StopAsync(CancellationToken cancellationToken)
    {
        _subscription?.Dispose();
        return Task.CompletedTask;
    }
}
