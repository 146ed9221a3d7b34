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
        if (writer.IsEnabled)
        {
            context.SetFeature<ProblemCodeFeature>(new AccessLogEntry());
        }
    }

    public void Completed(HttpContext context, in ProxyRequestStart start)
    {
        if (context.Feature<ProblemCodeFeature>() is not AccessLogEntry entry)
        {
            return;
        }

        var status = context.Response.StatusCode;
        if ((_alwaysLogErrors && status >= 400) || _sampleRate >= 1 || Random.Shared.NextDouble() < _sampleRate)
        {
            entry.Timestamp = start.Time;
            entry.DurationMs = Stopwatch.GetElapsedTime(start.Timestamp).TotalMilliseconds;
            entry.UpstreamMs = entry.UpstreamEnded > 0 ? Stopwatch.GetElapsedTime(entry.UpstreamStarted, entry.UpstreamEnded).TotalMilliseconds : null;
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

    /// <summary>Innermost stage: the time spent forwarding (sending upstream and copying its answer back).</summary>
    public static Task UpstreamStageAsync(HttpContext context, RequestDelegate next) =>
        context.Feature<ProblemCodeFeature>() is AccessLogEntry entry ? TimeUpstreamAsync(entry, context, next) : next(context);

    private static async Task TimeUpstreamAsync(AccessLogEntry entry, HttpContext context, RequestDelegate next)
    {
        entry.UpstreamStarted = Stopwatch.GetTimestamp();
        try
        {
            await next(context);
        }
        finally
        {
            entry.UpstreamEnded = Stopwatch.GetTimestamp();
        }
    }
}
