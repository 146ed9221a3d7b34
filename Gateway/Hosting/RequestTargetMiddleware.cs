using Gateway.Configuration;
using Gateway.Http;
using Gateway.Observability;
using Gateway.RateLimiting;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Options;

namespace Gateway.Hosting;

/// <summary>
/// Before routing on the proxy listener, so anonymous routes and unmatched paths are covered too: refuses
/// a request target an upstream could read as another path than the one routed and authorized
/// (<see cref="RequestTarget"/>) with 400 <c>bad_path</c>, or, with <c>Gateway:Paths:Normalize</c>,
/// rewrites it to its normalized form, which is then routed, authorized and forwarded. It also refuses a
/// CONNECT (400 <c>bad_request</c>): the gateway opens no tunnels, and a target holding a '#' (400 <c>bad_path</c>)
/// in either mode. Each refusal takes a permit of the client's IP limit first. A clean target costs a scan of the
/// target and one of its path, and no allocation. The admin listener's paths are the gateway's own and carry ids this
/// would refuse (a customer id stored before "." and ".." were refused at creation).
/// </summary>
internal sealed class RequestTargetMiddleware(RequestDelegate next, Listeners listeners, IpLimitGate gate, GatewayMetrics metrics, IOptionsMonitor<GatewayOptions> options)
{
    public Task InvokeAsync(HttpContext context)
    {
        var request = context.Feature<IHttpRequestFeature>();
        var raw = request?.RawTarget;
        if (HttpMethods.IsConnect(context.Request.Method) && !listeners.IsAdmin(context)
            && context.Feature<IHttpExtendedConnectFeature>() is not { IsExtendedConnect: true })
        {
            // A tunnel, not a request for an upstream: the forwarder cannot send it, and a 502 would blame the upstream.
            // An extended CONNECT (a WebSocket over HTTP/2) is a request for a route and goes on.
            return Refuse(context, ProblemCodes.BadRequest, "CONNECT asks for a tunnel, which the gateway does not open.");
        }

        // '#' is never part of a request target (a fragment stays with the client), but Kestrel keeps it in the path and
        // the forwarder sends it as %23 with what follows unchecked: "/public/a#/..;/admin" would reach an upstream
        // that resolves "..;". Nothing can normalize it into the target the client meant, so it is refused in both modes.
        var fragment = raw.AsSpan().Contains('#');
        if (request is null || (!fragment && RequestTarget.IsClean(RequestTarget.PathOf(raw))) || listeners.IsAdmin(context))
        {
            return next(context);
        }

        if (fragment)
        {
            return Refuse(context, ProblemCodes.BadPath, "The request target has a '#': a fragment is never sent to a server.");
        }

        if (options.CurrentValue.Paths.Normalize)
        {
            var path = RequestTarget.PathOf(raw);
            var normalized = RequestTarget.Normalize(path);
            context.Request.Path = PathString.FromUriComponent(normalized);
            request.RawTarget = normalized + context.Request.QueryString.Value;
            return next(context);
        }

        return Refuse(context, ProblemCodes.BadPath, "The request path has an empty or dot segment, a ';' parameter or an encoded '/', '\\' or ';'.");
    }

    /// <summary>
    /// After a permit of the client's IP limit, which comes first for every request on the proxy listener: a client
    /// sending bad targets spends its allowance like any other (the permit is not given back, as for a 404 no_route).
    /// </summary>
    private Task Refuse(HttpContext context, ProblemCode problem, string detail)
    {
        if (!gate.TryEnter(context, out var refusal))
        {
            metrics.Request("(none)", ProblemCodes.RateLimited.Status, ProblemCodes.RateLimited.Code);
            return refusal;
        }

        metrics.Request("(none)", problem.Status, problem.Code);
        return GatewayProblem.WriteAsync(context, problem, detail);
    }
}
