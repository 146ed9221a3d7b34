using Gateway.Observability;
using OpenTelemetry.Logs;

namespace Gateway.RequestLog;

/// <summary>
/// Sends each stored request record as an OpenTelemetry log record (category <c>Gateway.RequestLog</c>, event id
/// 2302, every field an attribute) through a logger factory of its own, so only request records go out, never the
/// gateway's other logs. On when <c>OTEL_EXPORTER_OTLP_ENDPOINT</c> is set and <c>Gateway:RequestLog:Otlp</c> is true.
/// </summary>
internal sealed partial class RequestLogExport : IDisposable
{
    public const string Category = "Gateway.RequestLog";

    private readonly ILoggerFactory? _factory;
    private readonly ILogger? _logger;

    public RequestLogExport(ILoggerFactory? factory)
    {
        _factory = factory;
        _logger = factory?.CreateLogger(Category);
    }

    public static RequestLogExport FromConfiguration(IConfiguration configuration, bool enabled) =>
        enabled && !string.IsNullOrWhiteSpace(configuration[GatewayTelemetry.OtlpEndpointSetting])
            ? new RequestLogExport(LoggerFactory.Create(logging =>
            {
                // The exporter reads OTEL_EXPORTER_OTLP_* from the IConfiguration of its container, and without one
                // from environment variables only: give it the gateway's, so the endpoint it sends to is the one that
                // turned the export on, from whichever settings source.
                logging.Services.AddSingleton(configuration);
                logging.AddOpenTelemetry(otel =>
                {
                    otel.IncludeFormattedMessage = false;
                    otel.AddOtlpExporter();
                });
            }))
            : new RequestLogExport(null);

    public void Export(RequestRecord r)
    {
        if (_logger is null)
        {
            return;
        }

        Log.Request(_logger, r.Time, r.RequestId, r.OrgId ?? "", r.KeyId, r.CustomerId, r.Method, r.Path, r.Route, r.Status, r.Code, r.DurationMs, r.ClientIp, r.UpstreamStatus);
    }

    public void Dispose() => _factory?.Dispose();

    private static partial class Log
    {
        [LoggerMessage(EventId = EventIds.RequestLogRecord, Level = LogLevel.Information, Message = "{Time:O} {RequestId} org={OrgId} key={KeyId} customer={CustomerId} {Method} {Path} route={Route} {Status} {Code} {DurationMs} ms ip={ClientIp} upstream={UpstreamStatus}")]
        public static partial void Request(
            ILogger logger, DateTimeOffset time, string requestId, string orgId, string? keyId, string? customerId, string method, string path,
            string? route, int status, string? code, double durationMs, string? clientIp, int? upstreamStatus);
    }
}
