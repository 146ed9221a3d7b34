using System.Diagnostics;
using Gateway.Configuration;
using Gateway.Http;
using Gateway.Observability;
using Gateway.Usage;
using Microsoft.Extensions.Options;
using Yarp.ReverseProxy.Forwarder;

namespace Gateway.Proxy;

/// <summary>
/// First stage of the proxy pipeline: drops client headers with '_' in their names when asked to,
/// turns YARP's bare 502/503/504 into problem+json (and a client's refused body into 400/413, a client that went
/// away into 499), and then records the outcome once the answer is final: the request metric, the usage count
/// unless usage counting is off, and whatever the <see cref="IProxyRequestObserver"/>s record (the request log,
/// the access log). All are recorded here, after one wait for the forwarder, rather than each in a stage of its
/// own that would wait for it again.
/// </summary>
internal sealed partial class ProxyOutcomeMiddleware(
    RequestDelegate next,
    GatewayMetrics metrics,
    IOptionsMonitor<GatewayOptions> options,
    UsageCounters? usage,
    IProxyRequestObserver[] observers,
    TimeProvider time,
    ILogger<ProxyOutcomeMiddleware> logger)
{
    private const int StatusCodeClientClosedRequest = 499;

    public Task InvokeAsync(HttpContext context)
    {
        // Identity headers are removed from the upstream request (IdentityTransformProvider); this option also
        // drops any client header with '_' in its name, which a route transform must still be able to set.
        if (options.CurrentValue.DropHeadersWithUnderscores)
        {
            IdentityHeaders.RemoveClientCopies(context.Request.Headers, dropUnderscoreNames: true);
        }

        var start = observers.Length == 0 ? default : new ProxyRequestStart(Stopwatch.GetTimestamp(), time.GetUtcNow());
        foreach (var observer in observers)
        {
            observer.Starting(context, start);
        }

        // A refusal by a later stage completes synchronously: record it without an async frame.
        Task task;
        try
        {
            task = next(context);
        }
        catch
        {
            Notify(context, start);
            throw;
        }

        if (task.IsCompletedSuccessfully && context.Feature<IForwarderErrorFeature>() is null)
        {
            Record(context, Outcome(context));
            Notify(context, start);
            return Task.CompletedTask;
        }

        return FinishAsync(task, context, start);
    }

    private async Task FinishAsync(Task task, HttpContext context, ProxyRequestStart start)
    {
        try
        {
            await task;

            var error = context.Feature<IForwarderErrorFeature>();
            if (error is null)
            {
                Record(context, Outcome(context));
                return;
            }

            var response = context.Response;
            var refused = ClientBodyErrors.Find(error.Exception);
            if (refused is null && !context.RequestAborted.IsCancellationRequested && ClientBodyErrors.Stalled(error.Error, error.Exception))
            {
                // The client is still there and its body stopped arriving for the cluster's ActivityTimeout: a slow
                // client, answered as Kestrel's own body timeout is, not as one that went away.
                refused = (StatusCodes.Status408RequestTimeout, "No part of the request body arrived for the cluster's ActivityTimeout.");
            }

            if (context.RequestAborted.IsCancellationRequested || (IsClientSide(error.Error) && (refused is null || ClientBodyErrors.EndedMidBody(refused.Value))))
            {
                // The client went away: nobody reads an answer. 499 (nginx's "client closed request") keeps it
                // apart from upstream failures in the metrics and the access log.
                Log.ClientAborted(logger, error.Error, context.TraceIdentifier);
                var answered = response.HasStarted;
                if (!answered)
                {
                    response.StatusCode = StatusCodeClientClosedRequest;
                }

                // Usage calls it allowed only when the upstream answered below 500: a request the client abandoned
                // before any answer is neither that nor a refusal, and was counted as allowed.
                Record(context, "client_aborted", clientAborted: !answered);
                return;
            }

            // The answer is the gateway's own: nothing the upstream sent goes with it. YARP clears the response
            // headers when it gives up on most failures, but not all (a 101 to a request that asked for no upgrade
            // left the upstream's cookies and Connection: Upgrade on the 502). The limits' headers are written when
            // the response starts, so they are not lost here; the id goes back on every answer.
            if (!response.HasStarted)
            {
                response.Headers.Clear();
                response.Headers[RequestIdMiddleware.HeaderName] = context.TraceIdentifier;
            }

            if (refused is { } bad)
            {
                // Kestrel refused the client's body (over MaxRequestBodySize, bad chunk framing): the client's
                // error, not an upstream failure.
                Log.ClientBodyRefused(logger, error.Error, bad.Status, context.TraceIdentifier, bad.Reason);
                if (!response.HasStarted)
                {
                    if (bad.Status == StatusCodes.Status408RequestTimeout && (HttpProtocol.IsHttp11(context.Request.Protocol) || HttpProtocol.IsHttp10(context.Request.Protocol)))
                    {
                        // The rest of the body may still come; the connection ends rather than wait to drain it.
                        response.Headers.Connection = "close";
                    }

                    var problem = ClientBodyErrors.ProblemFor(bad);
                    await GatewayProblem.WriteAsync(context, problem, bad.Status switch
                    {
                        StatusCodes.Status413PayloadTooLarge => "The request body is larger than the gateway accepts.",
                        StatusCodes.Status408RequestTimeout => "The request body did not arrive in time: " + bad.Reason,
                        _ => "The request body is malformed: " + bad.Reason,
                    });
                }

                Record(context, "client_error");
                return;
            }

            if (!response.HasStarted)
            {
                if (error.Error is ForwarderError.RequestTimedOut || response.StatusCode == StatusCodes.Status504GatewayTimeout)
                {
                    await GatewayProblem.WriteAsync(context, ProblemCodes.UpstreamTimeout, "The upstream did not answer in time.");
                }
                else if (error.Error is ForwarderError.NoAvailableDestinations)
                {
                    // YARP's 503: nothing was sent anywhere, so not the 502 of an upstream that failed.
                    await GatewayProblem.WriteAsync(context, ProblemCodes.NoHealthyUpstream, "The route's cluster has no healthy destination to send the request to.");
                }
                else
                {
                    await GatewayProblem.WriteAsync(context, ProblemCodes.UpstreamUnreachable, "The upstream could not be reached.");
                }
            }

            Record(context, "upstream_error");
        }
        finally
        {
            Notify(context, start);
        }
    }

    private void Notify(HttpContext context, in ProxyRequestStart start)
    {
        foreach (var observer in observers)
        {
            observer.Completed(context, start);
        }
    }

    private void Record(HttpContext context, string outcome, bool clientAborted = false)
    {
        var route = context.ProxyFeature().Route.Config.RouteId;
        metrics.Request(route, context.Response.StatusCode, outcome);
        usage?.Record(context, clientAborted);
    }

    // ProxiedDestination is set by YARP only when the request was actually sent upstream.
    private static string Outcome(HttpContext context) =>
        context.ProxyFeature().ProxiedDestination is not null ? "forwarded" : "rejected";

    /// <summary>Errors YARP reports on the client's side of the exchange (reading its body, writing its answer).</summary>
    internal static bool IsClientSide(ForwarderError error) => error is ForwarderError.RequestCanceled
        or ForwarderError.RequestBodyCanceled
        or ForwarderError.RequestBodyClient
        or ForwarderError.ResponseBodyCanceled
        or ForwarderError.ResponseBodyClient
        or ForwarderError.UpgradeRequestCanceled
        or ForwarderError.UpgradeRequestClient
        or ForwarderError.UpgradeResponseCanceled;

    private static partial class Log
    {
        [LoggerMessage(EventId = EventIds.ProxyClientBodyRefused, Level = LogLevel.Debug, Message = "Request {RequestId}: the client's body was refused ({Error}, {Status}): {Reason}")]
        public static partial void ClientBodyRefused(ILogger logger, ForwarderError error, int status, string requestId, string reason);

        [LoggerMessage(EventId = EventIds.ProxyClientAborted, Level = LogLevel.Debug, Message = "Request {RequestId}: the client went away ({Error}).")]
        public static partial void ClientAborted(ILogger logger, ForwarderError error, string requestId);
    }
}
