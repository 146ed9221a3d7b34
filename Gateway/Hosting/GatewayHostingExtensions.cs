using Gateway.Admin;
using Gateway.Configuration;
using Gateway.Demo;
using Gateway.Keys;
using Gateway.Observability;
using Gateway.Proxy;
using Gateway.RateLimiting;
using Gateway.Stores;
using Gateway.Stores.Redis;
using Gateway.Stores.Sqlite;
using Gateway.Usage;
using Microsoft.AspNetCore.Routing.Matching;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace Gateway.Hosting;

public static class GatewayHostingExtensions
{
    /// <summary>Settings every gateway has even when the operator's file leaves them out (CONTRACT sections 1 and 2).</summary>
    private static readonly Dictionary<string, string?> Defaults = new()
    {
        ["Kestrel:Endpoints:Proxy:Url"] = "http://0.0.0.0:8080",
        ["Kestrel:Endpoints:Admin:Url"] = "http://127.0.0.1:8081",
    };

    /// <summary>Registers everything the gateway needs: options, keys, store, admin API, proxy and metrics.</summary>
    public static WebApplicationBuilder AddGateway(this WebApplicationBuilder builder)
    {
        builder.Configuration.Sources.Insert(0, new Microsoft.Extensions.Configuration.Memory.MemoryConfigurationSource { InitialData = Defaults });

        var listeners = new Listeners();
        builder.Services.AddSingleton(listeners);
        builder.WebHost.ConfigureKestrel((context, kestrel) =>
        {
            kestrel.AddServerHeader = false;
            kestrel.Configure(context.Configuration.GetSection("Kestrel"), reloadOnChange: false)
                .Endpoint(Listeners.AdminName, endpoint => listeners.Admin = endpoint.ListenOptions)
                .Endpoint(Listeners.ProxyName, endpoint => listeners.Proxy = endpoint.ListenOptions);
        });
        builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = TimeSpan.FromSeconds(20));

        var services = builder.Services;
        services.AddOptions<GatewayOptions>()
            .Bind(builder.Configuration.GetSection(GatewayOptions.SectionName))
            .ValidateOnStart();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<GatewayOptions>, GatewayOptionsValidator>());
        services.AddSingleton<IOptionsMonitor<GatewayOptions>, LastGoodOptionsMonitor<GatewayOptions>>();
        services.TryAddSingleton(TimeProvider.System);
        services.TryAddSingleton<GatewayMetrics>();

        var redis = builder.Configuration[$"{GatewayOptions.SectionName}:Store:Redis"];
        services.AddGatewayStore(redis);
        services.AddGatewayRateLimiting(redis: !string.IsNullOrWhiteSpace(redis));
        services.TryAddSingleton<StoreResilience>();
        services.TryAddSingleton<KeyResolver>();
        services.TryAddSingleton<KeyManager>();
        services.TryAddSingleton<KeyUsageTracker>();
        services.AddHostedService(sp => sp.GetRequiredService<KeyUsageTracker>());
        services.AddGatewayUsage(redis: !string.IsNullOrWhiteSpace(redis));

        services.TryAddSingleton<AdminToken>();
        services.TryAddSingleton<AdminTokenFilter>();
        services.TryAddSingleton<AdminErrorFilter>();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<MatcherPolicy, ListenerMatcherPolicy>());

        services.AddHostedService<DemoUpstream>();
        services.AddHostedService<DemoBootstrap>();

        services.AddReverseProxy()
            .LoadFromConfig(builder.Configuration.GetSection("ReverseProxy"))
            .AddConfigFilter<RouteMetadataValidator>();
        return builder;
    }

    /// <summary>The embedded SQLite store, unless <c>Gateway:Store:Redis</c> is set: then Redis, shared by every instance.</summary>
    private static IServiceCollection AddGatewayStore(this IServiceCollection services, string? redis)
    {
        if (string.IsNullOrWhiteSpace(redis))
        {
            services.TryAddSingleton<IGatewayStore, SqliteGatewayStore>();
            services.TryAddSingleton<IKeyChangeNotifier, NullKeyChangeNotifier>();
        }
        else
        {
            // One multiplexer per process, shared by the store, the invalidation channel and the rate limiter.
            services.TryAddSingleton<IConnectionMultiplexer>(sp => RedisConnection.Connect(redis, sp.GetRequiredService<IOptions<GatewayOptions>>().Value.Store.Timeout));
            services.TryAddSingleton<IGatewayStore, RedisGatewayStore>();
            services.TryAddSingleton<RedisKeyChangeNotifier>();
            services.TryAddSingleton<IKeyChangeNotifier>(sp => sp.GetRequiredService<RedisKeyChangeNotifier>());
            services.AddHostedService(sp => sp.GetRequiredService<RedisKeyChangeNotifier>());
        }

        // Registered first among the gateway's hosted services so the schema exists before anything reads it.
        services.Insert(0, ServiceDescriptor.Singleton<IHostedService, StoreInitializer>());
        return services;
    }

    /// <summary>The middleware that runs before routing on both listeners.</summary>
    public static WebApplication UseGateway(this WebApplication app)
    {
        app.UseMiddleware<RequestIdMiddleware>();
        app.UseRouting();
        app.MapGatewayAdmin();
        app.MapGatewayProxy();
        return app;
    }
}
