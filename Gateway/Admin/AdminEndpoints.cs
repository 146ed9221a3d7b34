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
        var admin = endpoints.MapGroup("/admin")
            .WithMetadata(AdminListenerMetadata.Instance)
            // Errors outermost: an operator token is checked against the store, which may be down (503, not 500).
            .AddEndpointFilter<AdminErrorFilter>()
            .AddEndpointFilter<AdminNoStoreFilter>()
            .AddEndpointFilter<AdminCrossSiteFilter>()
            .AddEndpointFilter(Gateway.RateLimiting.IpLimitFilter.Admin(endpoints.ServiceProvider, endpoints.ServiceProvider.GetRequiredService<AdminClientAddress>().Resolve))
            .AddEndpointFilter<AdminTokenFilter>()
            .AddEndpointFilter<AdminAuthorizationFilter>()
            .ProducesAdminProblem(StatusCodes.Status401Unauthorized, StatusCodes.Status403Forbidden, StatusCodes.Status429TooManyRequests, StatusCodes.Status503ServiceUnavailable);
        admin.MapOrgsApi().MapKeysApi().MapAuditApi().MapSettingsApi().MapLeakedKeysApi().MapUsageApi().MapCustomersApi().MapCreditsApi();
        foreach (var api in endpoints.ServiceProvider.GetServices<IAdminApi>())
        {
            api.Map(admin);
        }

        // Signing in needs no admin token: the same error, no-store and IP-limit filters, and each handler decides.
        var open = endpoints.MapGroup("/admin")
            .WithMetadata(AdminListenerMetadata.Instance)
            .AddEndpointFilter<AdminErrorFilter>()
            .AddEndpointFilter<AdminNoStoreFilter>()
            .AddEndpointFilter(Gateway.RateLimiting.IpLimitFilter.Admin(endpoints.ServiceProvider, endpoints.ServiceProvider.GetRequiredService<AdminClientAddress>().Resolve))
            .ProducesAdminProblem(StatusCodes.Status429TooManyRequests);
        foreach (var api in endpoints.ServiceProvider.GetServices<IAdminPublicApi>())
        {
            api.Map(open);
        }

        endpoints.MapAdminConsole();
        endpoints.MapAdminOpenApi();

        endpoints.MapGet("/healthz", () => Results.Text("ok")).WithMetadata(AdminListenerMetadata.Instance);
        endpoints.MapGet("/readyz", ReadyAsync).WithMetadata(AdminListenerMetadata.Instance);
        // Resolved now, not at the first scrape, so that the listener counts from the start.
        var metrics = endpoints.ServiceProvider.GetRequiredService<PrometheusMetrics>();
        endpoints.MapGet("/metrics", () => Results.Text(metrics.Scrape(), PrometheusMetrics.ContentType))
            .WithMetadata(AdminListenerMetadata.Instance);
        return endpoints;
    }

    private static async Task<IResult> ReadyAsync(IGatewayStore store, StoreResilience resilience, CancellationToken cancellationToken)
    {
        try
        {
            await resilience.Pipeline.ExecuteAsync(static async (s, ct) => await s.PingAsync(ct), store, cancellationToken);
            return Results.Text("ready");
        }
        catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            return Results.Text("store unavailable", statusCode: StatusCodes.Status503ServiceUnavailable);
        }
    }
}
