namespace Gateway.Stores;

/// <summary>
/// The receiving side of <see cref="IKeyChangeNotifier"/>: which keys other instances changed (this one drops its
/// own changes before announcing them; a feed may leave out their echoes),
/// for a cache of store records to drop. The embedded store serves one instance, so nothing ever arrives;
/// how a shared store carries the news (Redis: pub/sub) stays inside the store.
/// </summary>
internal interface IKeyChangeFeed
{
    /// <summary>
    /// Starts delivering. <paramref name="changed"/> gets the hashes of changed keys; <paramref name="stale"/> is
    /// called when announcements may have been missed (a reconnect, an unreadable message, or this instance
    /// could not announce its own change), so everything cached must be read again. Disposing the result stops
    /// the callbacks.
    /// </summary>
    Task<IDisposable> SubscribeAsync(Action<string[]> changed, Action stale, CancellationToken cancellationToken);
}

internal sealed class NullKeyChangeFeed : IKeyChangeFeed
{
    public Task<IDisposable> SubscribeAsync(Action<string[]> changed, Action stale, CancellationToken cancellationToken) =>
        Task.FromResult<IDisposable>(NoSubscription.Instance);

    private sealed class NoSubscription : IDisposable
    {
        public static readonly NoSubscription Instance = new();

        public void Dispose()
        {
        }
    }
}
