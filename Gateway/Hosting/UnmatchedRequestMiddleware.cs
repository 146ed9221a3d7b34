using Gateway.Http;
using Gateway.Observability;
using Gateway.RateLimiting;

namespace Gateway.Hosting;

/// <summary>
/// Answers a request that no endpoint matches with a problem+json 404: <c>no_route</c> on the proxy
/// listener (counted in the request metric, after a permit of the client's IP limit), <c>not_found</c> on the admin listener. Runs after routing,
/// before endpoints. A catch-all fallback endpoint would do the same, but routing would then weigh it as a
/// second candidate, with its own route values, on every proxied request.
/// </summary>
internal sealed class UnmatchedRequestMiddleware(RequestDelegate next, Listeners listeners, IpLimitGate gate, GatewayMetrics metrics)
{
    // What routing's HTTP method policy selects when a path matches but not the method (its
    // Http405EndpointDisplayName). A catch-all fallback used to win over it; answering it as a path that
    // matches nothing keeps that behaviour.
    private const string MethodNotAllowedEndpoint = "405 HTTP Method Not Supported";

    public Task InvokeAsync(HttpContext context)
    {
        if (context.GetEndpoint() is { } endpoint && !string.Equals(endpoint.DisplayName, MethodNotAllowedEndpoint, StringComparison.Ordinal))
        {
            return next(context);
        }

        if (listeners.IsAdmin(context))
        {
            AdminListenerHeadersFilter.Apply(context.Response);
            return GatewayProblem.WriteAsync(context, ProblemCodes.NotFound, "No admin endpoint at this path.");
        }

        // A client probing paths spends its IP allowance like any proxied request.
        if (!gate.TryEnter(context, out var refusal))
        {
            metrics.Request("(none)", ProblemCodes.RateLimited.Status, ProblemCodes.RateLimited.Code);
            return refusal;
        }

        metrics.Request("(none)", ProblemCodes.NoRoute.Status, ProblemCodes.NoRoute.Code);
        return GatewayProblem.WriteAsync(context, ProblemCodes.NoRoute, "No route matches this request.");
    }
}
