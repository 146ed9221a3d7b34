using Gateway.Admin;
using Gateway.Configuration;
using Gateway.Demo;
using Gateway.Http;
using Gateway.Keys;
using Gateway.Observability;
using Gateway.Proxy;
using Gateway.RateLimiting;
using Gateway.Stores;
using Gateway.Tls;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace Gateway.Hosting;

public static class GatewayHostingExtensions
{
    /// <summary>Settings every gateway has even when the operator's file leaves them out.</summary>
    internal static readonly Dictionary<string, string?> Defaults = new()
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
            // No Kestrel reload: a settings change must not rebind the listeners. Certificate files are
            // watched on their own (ReloadingCertificate), so a renewal needs no restart either.
            // Wall-clock time on purpose: the files change in real time even when a test fakes the clock.
            var time = TimeProvider.System;
            var tlsLog = kestrel.ApplicationServices.GetRequiredService<ILoggerFactory>().CreateLogger("Gateway.Tls");
            kestrel.Configure(context.Configuration.GetSection("Kestrel"), reloadOnChange: false)
                .Endpoint(Listeners.AdminName, endpoint =>
                {
                    listeners.Admin = endpoint.ListenOptions;
                    ReloadingCertificate.Attach(endpoint, time, tlsLog);
                })
                .Endpoint(Listeners.ProxyName, endpoint =>
                {
                    listeners.Proxy = endpoint.ListenOptions;
                    ReloadingCertificate.Attach(endpoint, time, tlsLog);
                });
        });
        builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = TimeSpan.FromSeconds(20));

        // A table of contents: each feature registers its own services (TryAdd, so a test or host can
        // replace any of them first). Start order does not depend on this order: the store is created in
        // StoreInitializer's StartingAsync, before any hosted service starts.
        var services = builder.Services;
        services.AddGatewayOptions(builder.Configuration);
        services.TryAddSingleton(TimeProvider.System);
        services.AddGatewayObservability(builder.Configuration);

        var redis = builder.Configuration[$"{GatewayOptions.SectionName}:Store:Redis"];
        services.AddGatewayStores(redis);
        services.AddGatewayKeys(redis: !string.IsNullOrWhiteSpace(redis));
        services.AddGatewayRateLimiting(redis: !string.IsNullOrWhiteSpace(redis));
        services.AddGatewayAdmin();
        services.AddGatewayDemo();

        services.AddReverseProxy()
            .LoadFromConfig(builder.Configuration.GetSection("ReverseProxy"))
            .AddConfigFilter<RouteMetadataValidator>();
        return builder;
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
