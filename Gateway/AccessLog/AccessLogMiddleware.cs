using System.Diagnostics;
using Gateway.Auth;
using Gateway.Http;
using Microsoft.Extensions.Options;

namespace Gateway.AccessLog;

/// <summary>
/// Outermost stage of the proxy pipeline: notes what the request was and how it ended, and hands the entry
/// to <see cref="AccessLogWriter"/>. Formatting and writing happen on the writer's thread, never here.
/// </summary>
internal sealed class AccessLogMiddleware(AccessLogWriter writer, ClientIpResolver ips, IOptions<AccessLogOptions> options, TimeProvider time)
{
    private readonly double _sampleRate = options.Value.SampleRate;
    private readonly bool _alwaysLogErrors = options.Value.AlwaysLogErrors;

    public async Task InvokeAsync(HttpContext context, RequestDelegate next)
    {
        if (!writer.IsEnabled)
        {
            await next(context);
            return;
        }

        var entry = new AccessLogEntry { Started = Stopwatch.GetTimestamp(), Timestamp = time.GetUtcNow() };
        context.SetFeature<ProblemCodeFeature>(entry);
        try
        {
            await next(context);
        }
        finally
        {
            var status = context.Response.StatusCode;
            if ((_alwaysLogErrors && status >= 400) || _sampleRate >= 1 || Random.Shared.NextDouble() < _sampleRate)
            {
                entry.DurationMs = Stopwatch.GetElapsedTime(entry.Started).TotalMilliseconds;
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
    }

    /// <summary>Innermost stage: the time spent forwarding (sending upstream and copying its answer back).</summary>
    public static async Task UpstreamStageAsync(HttpContext context, RequestDelegate next)
    {
        if (context.Feature<ProblemCodeFeature>() is not AccessLogEntry entry)
        {
            await next(context);
            return;
        }

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
