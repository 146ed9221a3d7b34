namespace Gateway.Stores;

/// <summary>Creates or migrates the store before the listeners open.</summary>
internal sealed class StoreInitializer(IGatewayStore store) : IHostedService
{
    public Task StartAsync(CancellationToken cancellationToken) => store.InitializeAsync(cancellationToken);

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
