using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Http.Features;

namespace Gateway.Hosting;

/// <summary>
/// The web server (Kestrel) with its stop bounded by <see cref="ShutdownBudget.Drain"/>: the host hands the server
/// its whole shutdown token, and Kestrel waits for in-flight requests until that token ends, which would leave the
/// hosted services that stop after it (the flushers) nothing. Past the drain Kestrel aborts the connections left.
/// </summary>
internal sealed class DrainBoundedServer(IServer server, ShutdownBudget budget) : IServer
{
    public IFeatureCollection Features => server.Features;

    public Task StartAsync<TContext>(IHttpApplication<TContext> application, CancellationToken cancellationToken)
        where TContext : notnull =>
        server.StartAsync(application, cancellationToken);

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        using var drain = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        drain.CancelAfter(budget.Drain);
        await server.StopAsync(drain.Token);
    }

    public void Dispose() => server.Dispose();

    /// <summary>
    /// Wraps Kestrel in the drain bound. A host's own server (ASP.NET Core's TestServer, which callers reach by casting
    /// <see cref="IServer"/>) is left as it is: it has no connections to drain.
    /// </summary>
    public static void Decorate(IServiceCollection services)
    {
        var registered = services.LastOrDefault(static d => d.ServiceType == typeof(IServer) && !d.IsKeyedService);
        if (registered is null || registered.Lifetime != ServiceLifetime.Singleton
            || registered.ImplementationType?.Namespace?.StartsWith("Microsoft.AspNetCore.Server.Kestrel", StringComparison.Ordinal) != true)
        {
            return;
        }

        services.Remove(registered);
        services.AddSingleton<IServer>(sp => new DrainBoundedServer(Create(sp, registered), sp.GetRequiredService<ShutdownBudget>()));
    }

    private static IServer Create(IServiceProvider services, ServiceDescriptor registered) =>
        (IServer)(registered.ImplementationInstance
            ?? registered.ImplementationFactory?.Invoke(services)
            ?? ActivatorUtilities.CreateInstance(services, registered.ImplementationType!));
}
