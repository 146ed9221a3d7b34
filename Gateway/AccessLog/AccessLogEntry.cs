using System.Net;
using Gateway.Http;

namespace Gateway.AccessLog;

/// <summary>
/// One proxied request, filled in as it passes the pipeline and handed to the writer once answered.
/// It is also the request's <see cref="ProblemCodeFeature"/>, so a refusal records its code here.
/// </summary>
internal sealed class AccessLogEntry : ProblemCodeFeature
{
    public DateTimeOffset Timestamp { get; set; }

    /// <summary>Drawn when the request started: logged whatever its status.</summary>
    public bool Sampled { get; init; }

    /// <summary>When forwarding started (a <see cref="System.Diagnostics.Stopwatch"/> timestamp); 0 when nothing was sent.</summary>
    public long UpstreamStarted { get; set; }

    public string RequestId { get; set; } = "";

    public string Method { get; set; } = "";

    public string Route { get; set; } = "";

    public int Status { get; set; }

    public string? Org { get; set; }

    public string? KeyId { get; set; }

    public double DurationMs { get; set; }

    public double? UpstreamMs { get; set; }

    public IPAddress? ClientIp { get; set; }
}
