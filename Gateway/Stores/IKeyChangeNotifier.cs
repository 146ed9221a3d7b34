namespace Gateway.Stores;

/// <summary>
/// Tells other gateway instances that keys changed so they drop cached copies. The embedded store
/// serves one instance, so its notifier does nothing; the Redis store publishes on pub/sub.
/// </summary>
public interface IKeyChangeNotifier
{
    Task PublishAsync(IReadOnlyList<string> hashes, CancellationToken cancellationToken);
}

internal sealed class NullKeyChangeNotifier : IKeyChangeNotifier
{
    public Task PublishAsync(IReadOnlyList<string> hashes, CancellationToken cancellationToken) => Task.CompletedTask;
}
