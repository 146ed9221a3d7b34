using Gateway.Http;
using Gateway.Stores;
using Gateway.Observability;

namespace Gateway.Admin;

public static class AdminEndpointRouteBuilderExtensions
{
    /// <summary>
    /// Maps the admin API, its OpenAPI document, <c>/healthz</c>, <c>/readyz</c> and <c>/metrics</c>, all on the admin listener only.
    /// </summary>
    public static IEndpointRouteBuilder MapGatewayAdmin(this IEndpointRouteBuilder endpoints)
    {
        var admin = endpoints.MapGroup("/admin").WithAdminFilters(endpoints, ipLimit: true);
        admin.MapOrgsApi().MapKeysApi().MapAuditApi().MapSettingsApi().MapLeakedKeysApi().MapUsageApi().MapCustomersApi().MapCreditsApi();
        var groups = new Dictionary<string, RouteGroupBuilder>(StringComparer.Ordinal) { ["/admin"] = admin };
        foreach (var api in endpoints.ServiceProvider.GetServices<IAdminApi>())
        {
            if (!groups.TryGetValue(api.Prefix, out var group))
            {
                // Another prefix (/v1: the verify API) gets the same token, throttle, cross-site, no-store and
                // authorization filters; not the IP limit, which is sized for people, not for a service that
                // verifies every request it serves (failed tokens are still throttled by the token filter).
                group = endpoints.MapGroup(api.Prefix).WithAdminFilters(endpoints, ipLimit: false);
                groups[api.Prefix] = group;
            }

            api.Map(group);
        }

        // Signing in needs no admin token: the same error, no-store and IP-limit filters, and each handler decides.
        var open = endpoints.MapGroup("/admin")
            .OnAdminListener()
            .AddEndpointFilter<AdminErrorFilter>()
            .AddEndpointFilter<AdminNoStoreFilter>()
            .AddEndpointFilter(Gateway.RateLimiting.IpLimitFilter.Admin(endpoints.ServiceProvider, endpoints.ServiceProvider.GetRequiredService<AdminClientAddress>().Resolve))
            .ProducesAdminProblem(StatusCodes.Status429TooManyRequests)
            .WithoutAdminToken();
        foreach (var api in endpoints.ServiceProvider.GetServices<IAdminPublicApi>())
        {
            api.Map(open);
        }

        endpoints.MapAdminConsole();
        endpoints.MapAdminOpenApi();

        // HEAD as well: some load balancers and probes send it (Kestrel leaves the body out).
        endpoints.MapMethods("/healthz", ProbeMethods, () => Results.Text("ok")).OnAdminListener();
        endpoints.MapMethods("/readyz", ProbeMethods, ReadyAsync).OnAdminListener();
        // Resolved now, not at the first scrape, so that the listener counts from the start.
        var metrics = endpoints.ServiceProvider.GetRequiredService<PrometheusMetrics>();
        endpoints.MapGet("/metrics", () => Results.Text(metrics.Scrape(), PrometheusMetrics.ContentType))
            .OnAdminListener();
        return endpoints;
    }

    private static readonly string[] ProbeMethods = [HttpMethods.Get, HttpMethods.Head];

    /// <summary>The filters every admin API group shares, outermost first.</summary>
    private static RouteGroupBuilder WithAdminFilters(this RouteGroupBuilder group, IEndpointRouteBuilder endpoints, bool ipLimit)
    {
        group.OnAdminListener()
            // Errors outermost: an operator token is checked against the store, which may be down (503, not 500).
            .AddEndpointFilter<AdminErrorFilter>()
            .AddEndpointFilter<AdminNoStoreFilter>()
            .AddEndpointFilter<AdminCrossSiteFilter>();
        if (ipLimit)
        {
            group.AddEndpointFilter(Gateway.RateLimiting.IpLimitFilter.Admin(endpoints.ServiceProvider, endpoints.ServiceProvider.GetRequiredService<AdminClientAddress>().Resolve));
        }

        group.AddEndpointFilter<AdminTokenFilter>()
            .AddEndpointFilter<AdminAuthorizationFilter>()
            .ProducesAdminProblem(StatusCodes.Status401Unauthorized, StatusCodes.Status403Forbidden, StatusCodes.Status429TooManyRequests, StatusCodes.Status503ServiceUnavailable);
        return group;
    }

    private static async Task<IResult> ReadyAsync(IGatewayStore store, StoreResilience resilience, CancellationToken cancellationToken)
    {
        try
        {
            await resilience.ExecuteAsync(static (s, ct) => s.PingAsync(ct), store, cancellationToken);
            return Results.Text("ready");
        }
        catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            // A damaged store answers, but not with keys: said apart from an outage, which passes by itself.
            var damaged = ex as StoreDamagedException ?? ex.InnerException as StoreDamagedException;
            return Results.Text(damaged is null ? "store unavailable" : "store damaged", statusCode: StatusCodes.Status503ServiceUnavailable);
        }
    }
}
