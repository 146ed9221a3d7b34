using Gateway.AccessLog;
using Gateway.Admin;
using Gateway.AdminSessions;
using Gateway.Configuration;
using Gateway.Customers;
using Gateway.Demo;
using Gateway.Http;
using Gateway.Keys;
using Gateway.Observability;
using Gateway.Operators;
using Gateway.Proxy;
using Gateway.RateLimiting;
using Gateway.RequestLog;
using Gateway.SecretScanning;
using Gateway.Signing;
using Gateway.Stores;
using Gateway.Tls;
using Gateway.Usage;
using Gateway.Webhooks;
using Gateway.Verify;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;

namespace Gateway.Hosting;

public static class GatewayHostingExtensions
{
    /// <summary>Settings every gateway has even when the operator's file leaves them out.</summary>
    internal static readonly Dictionary<string, string?> Defaults = new()
    {
        ["Kestrel:Endpoints:Proxy:Url"] = "http://0.0.0.0:8080",
        ["Kestrel:Endpoints:Admin:Url"] = "http://127.0.0.1:8081",

        // While this category can log, ASP.NET Core starts an Activity and a log scope for every request
        // (and HttpClient then a child Activity and a traceparent header for every upstream call), even
        // when nothing records them. The access log says what its request lines said; tracing, when on,
        // still gets its spans from the ActivitySource listener. An operator can set it back.
        ["Logging:LogLevel:Microsoft.AspNetCore.Hosting.Diagnostics"] = "None",
    };

    /// <summary>
    /// Where the gateway's <c>appsettings.json</c> is read from: the working directory when it has one (the repository
    /// root under <c>dotnet run --project Gateway</c>, an operator's own directory), else the directory of
    /// <c>Gateway.dll</c>, whose published copy sits next to it: <c>dotnet /opt/gateway/Gateway.dll</c> run from
    /// anywhere else used to start on the built-in defaults alone. Relative paths in the settings (the store's) stay
    /// relative to the working directory either way.
    /// </summary>
    internal static string SettingsDirectory()
    {
        var current = Directory.GetCurrentDirectory();
        return File.Exists(Path.Combine(current, "appsettings.json")) || !File.Exists(Path.Combine(AppContext.BaseDirectory, "appsettings.json"))
            ? current
            : AppContext.BaseDirectory;
    }

    /// <summary>Registers everything the gateway needs: options, keys, store, admin API, proxy and metrics.</summary>
    public static WebApplicationBuilder AddGateway(this WebApplicationBuilder builder)
    {
        builder.Configuration.Sources.Insert(0, new Microsoft.Extensions.Configuration.Memory.MemoryConfigurationSource { InitialData = Defaults });
        var settingsFiles = SettingsFiles.KeepLastGood(builder.Configuration);
        builder.Services.AddHostedService(sp => settingsFiles.LogTo(sp.GetRequiredService<ILoggerFactory>()));

        var listeners = new Listeners();
        builder.Services.AddSingleton(listeners);
        builder.WebHost.ConfigureKestrel((context, kestrel) =>
        {
            kestrel.AddServerHeader = false;

            // Kestrel's configuration loader reads endpoints and certificates, not limits: Kestrel:Limits
            // (MaxRequestBodySize, MaxRequestHeadersTotalSize, ...) is bound here, as ASP.NET Core's docs have an app do.
            context.Configuration.GetSection("Kestrel:Limits").Bind(kestrel.Limits);
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
        // The host's shutdown timeout is the whole stop; the server's drain of in-flight requests is bounded on its
        // own within it, so the flushes after it always keep their share (ShutdownBudget; a test may replace it).
        builder.Services.TryAddSingleton(ShutdownBudget.Default);
        builder.Services.AddOptions<HostOptions>().Configure<ShutdownBudget>(static (o, budget) => o.ShutdownTimeout = budget.Total);
        DrainBoundedServer.Decorate(builder.Services);

        // AllowedHosts is checked by AllowedHostsMiddleware, which answers problem+json; the host's own filter, put
        // ahead of the pipeline by a startup filter of the web host's defaults, would answer an HTML page first.
        var hostFiltering = builder.Services.FirstOrDefault(static d => d.ServiceType == typeof(IStartupFilter)
            && d.ImplementationType?.FullName == "Microsoft.AspNetCore.HostFilteringStartupFilter");
        if (hostFiltering is not null)
        {
            builder.Services.Remove(hostFiltering);
        }

        // A failed start (a port in use) is reported by Program in one line; the host would also log it
        // with a stack trace. Critical stays on: that is how a crashed background service stops the host.
        builder.Logging.AddFilter("Microsoft.Extensions.Hosting.Internal.Host", LogLevel.Critical);

        // A table of contents: each feature registers its own services (TryAdd, so a test or host can
        // replace any of them first). Start order does not depend on this order: the store is created in
        // StoreInitializer's StartingAsync, before any hosted service starts.
        var services = builder.Services;
        services.AddGatewayOptions(builder.Configuration);
        services.TryAddSingleton(TimeProvider.System);
        services.AddGatewayObservability(builder.Configuration);
        // The client address behind trusted proxies: what the IP limit, the access log and key allowlists all use.
        services.TryAddSingleton(static sp =>
        {
            var options = sp.GetRequiredService<IOptionsMonitor<GatewayOptions>>();
            return new ClientIpResolver(() => options.CurrentValue.TrustedProxies, () => options.CurrentValue.RateLimits.Ipv6PrefixLength);
        });
        services.AddGatewayAccessLog(builder.Configuration);

        // The one place the store kind is read; every feature's own storage follows it (AddFeatureStore).
        services.AddGatewayStores(builder.Configuration[$"{GatewayOptions.SectionName}:Store:Redis"]);
        services.AddGatewayKeys();
        services.AddGatewayCustomers();
        services.AddGatewayRateLimiting();
        services.AddGatewayQuotas();
        services.AddGatewayUsage();
        services.AddGatewayOperators();
        services.AddGatewayAdminSessions(builder.Configuration);
        services.AddGatewayVerify();
        services.AddGatewayAdmin();
        services.AddGatewayDemo(builder.Configuration);
        services.AddGatewaySecretScanning();
        services.AddGatewayRequestLog(builder.Configuration);
        services.AddGatewayWebhooks(builder.Configuration);

        services.AddReverseProxy()
            .LoadFromConfig(builder.Configuration.GetSection("ReverseProxy"))
            .AddGatewayDemoRoutes(builder.Configuration)
            .AddGatewayRouteValidation(builder.Configuration.GetSection("ReverseProxy"))
            .AddGatewayIdentityHeaders()
            .AddGatewayForwarderErrorLogging()
            .AddGatewaySigning();
        return builder;
    }

    /// <summary>The middleware that runs before routing on both listeners.</summary>
    public static WebApplication UseGateway(this WebApplication app)
    {
        // YARP registers ASP.NET Core's authorization services, and the host then puts the authorization
        // middleware ahead of this pipeline on its own: an async frame per request that, before routing,
        // never has an endpoint to authorize. Keys are checked by the proxy pipeline; routes that name an
        // AuthorizationPolicy are refused at load (RouteMetadataValidator). These are the flags the host
        // reads to tell that the application placed that middleware itself.
        var properties = ((IApplicationBuilder)app).Properties;
        properties["__AuthenticationMiddlewareSet"] = true;
        properties["__AuthorizationMiddlewareSet"] = true;

        // Likewise antiforgery, should anything register it: console sessions check their CSRF header in the admin
        // token filter, and no endpoint reads a form, so the middleware the host would add has nothing to do.
        properties["__AntiforgeryMiddlewareSet"] = true;
        app.UseMiddleware<RequestIdMiddleware>();
        app.UseMiddleware<AllowedHostsMiddleware>();
        app.UseMiddleware<RequestTargetMiddleware>();
        app.UseRouting();
        app.UseMiddleware<UnmatchedRequestMiddleware>();
        app.MapGatewayAdmin();
        app.MapSecretScanning();
        app.MapGatewayProxy();
        return app;
    }
}
