using System.Diagnostics;
using Gateway.Auth;
using Gateway.Http;
using Microsoft.Extensions.Options;

namespace Gateway.AccessLog;

/// <summary>
/// Notes what a proxied request was and how it ended, and hands the entry to <see cref="AccessLogWriter"/>.
/// Formatting and writing happen on the writer's thread, never here.
/// </summary>
internal sealed class AccessLogObserver(AccessLogWriter writer, ClientIpResolver ips, IOptions<AccessLogOptions> options) : IProxyRequestObserver
{
    private readonly double _sampleRate = options.Value.SampleRate;
    private readonly bool _alwaysLogErrors = options.Value.AlwaysLogErrors;

    public bool IsEnabled => options.Value.Enabled;

    public void Starting(HttpContext context, in ProxyRequestStart start)
    {
        // The logger's level can change while the gateway runs; without a listener the request gets no entry.
        if (!writer.IsEnabled)
        {
            return;
        }

        // Drawn here so that a request left out of the sample, and never to be logged as an error, allocates nothing.
        // Errors are logged whatever the draw, so with AlwaysLogErrors every request needs its entry.
        var sampled = _sampleRate >= 1 || (_sampleRate > 0 && Random.Shared.NextDouble() < _sampleRate);
        if (sampled || _alwaysLogErrors)
        {
            context.SetFeature<ProblemCodeFeature>(new AccessLogEntry { Sampled = sampled });
        }
    }

    public void Completed(HttpContext context, in ProxyRequestStart start)
    {
        if (context.Feature<ProblemCodeFeature>() is not AccessLogEntry entry)
        {
            return;
        }

        var status = context.Response.StatusCode;
        if (entry.Sampled || (_alwaysLogErrors && status >= 400))
        {
            // The forwarder has returned by now: the upstream time ends here rather than in a frame around it.
            var now = Stopwatch.GetTimestamp();
            entry.Timestamp = start.Time;
            entry.DurationMs = Stopwatch.GetElapsedTime(start.Timestamp, now).TotalMilliseconds;
            entry.UpstreamMs = entry.UpstreamStarted > 0 ? Stopwatch.GetElapsedTime(entry.UpstreamStarted, now).TotalMilliseconds : null;
            entry.Status = context.RequestAborted.IsCancellationRequested && !context.Response.HasStarted ? 499 : status;
            entry.RequestId = context.TraceIdentifier;
            entry.Method = context.Request.Method;
            entry.Route = context.ProxyFeature().Route.Config.RouteId;
            entry.ClientIp = ips.ResolveAddress(context);
            if (context.Feature<IApiKeyFeature>()?.Key is { } key)
            {
                entry.Org = key.OrgId;
                entry.KeyId = key.Id;
            }

            writer.Write(entry);
        }
    }

    /// <summary>
    /// Innermost stage: notes when forwarding starts. It ends when the outcome stage resumes, so no async frame
    /// wraps the forwarder for the few microseconds between the two.
    /// </summary>
    public static Task UpstreamStageAsync(HttpContext context, RequestDelegate next)
    {
        if (context.Feature<ProblemCodeFeature>() is AccessLogEntry entry)
        {
            entry.UpstreamStarted = Stopwatch.GetTimestamp();
        }

        return next(context);
    }
}
