using Gateway.Configuration;
using Gateway.Keys;
using Gateway.Observability;
using Gateway.Stores;
using Microsoft.Extensions.DependencyInjection;

namespace Gateway.Benchmarks;

/// <summary>
/// The gateway's request-path services wired as AddGateway wires them, on an in-memory store. Cache
/// periods are a day so a run measures the steady state of a hot key, not a periodic store re-read.
/// The gateway's metrics are listened to by the Prometheus exposition, as in the gateway, so recording them is part of what is measured.
/// </summary>
internal sealed class BenchServices : IDisposable
{
    private readonly ServiceProvider _provider;

    public BenchServices()
    {
        Store = new BenchStore();
        Store.Add(BenchData.Record(BenchData.ValidKey));

        var services = new ServiceCollection();
        services.AddLogging();
        services.AddOptions<GatewayOptions>().Configure(o =>
        {
            o.Cache.FreshFor = TimeSpan.FromDays(1);
            o.Cache.StaleFor = TimeSpan.FromDays(2);
            o.Cache.NegativeFor = TimeSpan.FromDays(1);
        });
        services.AddSingleton(TimeProvider.System);
        services.AddSingleton<IKeyLookup>(Store);
        services.AddSingleton<IKeyUsageRecorder>(Store);
        services.AddSingleton<StoreResilience>();
        services.AddMetrics();
        services.AddSingleton<GatewayMetrics>();
        services.AddSingleton<PrometheusMetrics>();
        services.AddSingleton<KeyResolver>();
        services.AddSingleton<KeyUsageTracker>();
        _provider = services.BuildServiceProvider();
        _provider.GetRequiredService<PrometheusMetrics>();
    }

    public BenchStore Store { get; }

    public IServiceProvider Services => _provider;

    public KeyResolver Resolver => _provider.GetRequiredService<KeyResolver>();

    public void Dispose() => _provider.Dispose();
}
