namespace Gateway.Stores;

/// <summary>
/// Creates or migrates the store before the listeners open. It works in <see cref="StartingAsync"/>, which
/// the host runs for every lifecycle service before any hosted service's <c>StartAsync</c>, so the schema
/// exists before anything reads it whatever order the services were registered in.
/// </summary>
internal sealed class StoreInitializer(IGatewayStore store) : IHostedLifecycleService
{
    public Task StartingAsync(CancellationToken cancellationToken) => store.InitializeAsync(cancellationToken);

    public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StartedAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StoppingAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StoppedAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
