using Gateway.Configuration;
using Gateway.Domain;
using Gateway.Http;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Yarp.ReverseProxy.Configuration;

namespace Gateway.Demo;

/// <summary>
/// The first-run demo exists only while <c>Gateway:Demo:Enabled</c> is true (read at start): its echo
/// upstream, the <c>demo</c> organization, its routes under <c>/demo/</c>, their cluster and the scopes
/// they require. None of it is in appsettings.json, so a deployment that turns the demo off has no
/// <c>/demo/</c> routes (404 <c>no_route</c>) and no scopes it did not list itself.
/// </summary>
internal static class DemoServiceCollectionExtensions
{
    public const string ClusterId = "demo";

    /// <summary>Scopes the demo routes and the README's walkthrough use.</summary>
    public static readonly string[] Scopes = ["read", "write", "admin"];

    public static bool IsEnabled(IConfiguration configuration) =>
        configuration.GetSection($"{GatewayOptions.SectionName}:Demo").Get<DemoOptions>()?.Enabled == true;

    /// <summary>The built-in demo upstream, the first-run demo organization and the demo's scopes, when <c>Demo:Enabled</c> is true.</summary>
    public static IServiceCollection AddGatewayDemo(this IServiceCollection services, IConfiguration configuration)
    {
        if (!IsEnabled(configuration))
        {
            return services;
        }

        services.PostConfigure<GatewayOptions>(options => AddScopes(options.Scopes));
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IHostedService, DemoUpstream>());
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IHostedService, DemoBootstrap>());
        return services;
    }

    /// <summary>
    /// The scopes a gateway started with <paramref name="configuration"/> knows: <c>Gateway:Scopes</c>, and the demo's
    /// while it is on. For commands that check scopes without starting one (<c>keys import</c>), which refused
    /// <c>read</c> under the shipped settings while the admin API of a gateway on the same settings accepted it.
    /// </summary>
    public static List<string> KnownScopes(IConfiguration configuration)
    {
        var scopes = configuration.GetSection($"{GatewayOptions.SectionName}:Scopes").GetChildren().Select(c => c.Value!).ToList();
        if (IsEnabled(configuration))
        {
            AddScopes(scopes);
        }

        return scopes;
    }

    private static void AddScopes(List<string> scopes)
    {
        foreach (var scope in Scopes)
        {
            if (!scopes.Contains(scope, StringComparer.Ordinal))
            {
                scopes.Add(scope);
            }
        }
    }

    /// <summary>Adds the demo's routes and cluster beside the ones from configuration, when the demo is on.</summary>
    public static IReverseProxyBuilder AddGatewayDemoRoutes(this IReverseProxyBuilder proxy, IConfiguration configuration)
    {
        if (!IsEnabled(configuration))
        {
            return proxy;
        }

        var url = configuration.GetSection($"{GatewayOptions.SectionName}:Demo").Get<DemoOptions>()!.Url;

        // Every demo route serves development keys (the demo key is one; demo-staging shows the refusal of
        // another environment), and is marked as a demo route: the only routes the demo organization's keys open.
        static RouteConfig Route(string id, string path, string key, string value)
        {
            var metadata = new Dictionary<string, string> { [RoutePolicy.EnvironmentKey] = KeyEnvironments.Development };
            metadata[key] = value;
            var route = new RouteConfig { RouteId = id, ClusterId = ClusterId, Match = new RouteMatch { Path = path }, Metadata = metadata };
            RoutePolicy.MarkDemo(route);
            return route;
        }

        return proxy.LoadFromMemory(
            [
                Route("demo-public", "/demo/public/{**rest}", RoutePolicy.AnonymousKey, "true"),
                Route("demo-admin", "/demo/admin/{**rest}", RoutePolicy.RequiredScopesKey, "admin"),
                Route("demo-staging", "/demo/staging/{**rest}", RoutePolicy.EnvironmentKey, KeyEnvironments.Staging),
                Route("demo", "/demo/{**rest}", RoutePolicy.RequiredScopesKey, "read"),
            ],
            [
                new ClusterConfig
                {
                    ClusterId = ClusterId,
                    HttpRequest = new Yarp.ReverseProxy.Forwarder.ForwarderRequestConfig { ActivityTimeout = TimeSpan.FromSeconds(30) },
                    Destinations = new Dictionary<string, DestinationConfig> { ["local"] = new() { Address = url.TrimEnd('/') + "/" } },
                },
            ]);
    }
}
