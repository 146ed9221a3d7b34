using System.Buffers;
using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Threading.Channels;
using Gateway.Observability;
using Microsoft.Extensions.Options;

namespace Gateway.AccessLog;

/// <summary>
/// Writes access-log entries from a bounded buffer on a background task, so a slow log sink never slows
/// a request: when the buffer is full an entry is dropped and counted (<c>gateway_access_log_dropped_total</c>).
/// Lines go to the logger category <c>Gateway.AccessLog</c> (event id 1800) as text or JSON, with the same
/// fields as structured state for providers that keep it. On shutdown the buffer is drained.
/// </summary>
internal sealed class AccessLogWriter : BackgroundService
{
    public const string Category = "Gateway.AccessLog";
    private static readonly EventId Event = new(EventIds.AccessLogEntry, "AccessLog");

    private readonly Channel<AccessLogEntry> _buffer;
    private readonly ILogger _logger;
    private readonly GatewayMetrics _metrics;
    private readonly bool _json;

    public AccessLogWriter(IOptions<AccessLogOptions> options, ILoggerFactory loggers, GatewayMetrics metrics)
    {
        _buffer = Channel.CreateBounded<AccessLogEntry>(new BoundedChannelOptions(options.Value.BufferSize)
        {
            FullMode = BoundedChannelFullMode.DropWrite,
            SingleReader = true,
        });
        _logger = loggers.CreateLogger(Category);
        _metrics = metrics;
        _json = options.Value.Format == "json";
    }

    /// <summary>False when no provider takes the category's Information level: then requests skip the log entirely.</summary>
    public bool IsEnabled => _logger.IsEnabled(LogLevel.Information);

    public void Write(AccessLogEntry entry)
    {
        if (!_buffer.Writer.TryWrite(entry))
        {
            _metrics.AccessLogDropped();
        }
    }

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        // Let the writer finish what requests already handed over, then stop.
        _buffer.Writer.TryComplete();
        await base.StopAsync(cancellationToken);
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        try
        {
            await foreach (var entry in _buffer.Reader.ReadAllAsync(CancellationToken.None))
            {
                if (!_logger.IsEnabled(LogLevel.Information))
                {
                    continue;
                }

#pragma warning disable CA1873 // guarded by IsEnabled just above
                _logger.Log(LogLevel.Information, Event, new State(entry, _json), null, static (state, _) => state.ToString());
#pragma warning restore CA1873
            }
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            // A provider that throws must not stop the host; the entries after it are lost.
            _buffer.Writer.TryComplete();
        }
    }

    internal static string Text(AccessLogEntry e)
    {
        var line = new StringBuilder(192);
        line.Append("request_id=").Append(e.RequestId)
            .Append(" method=").Append(e.Method)
            .Append(" route=").Append(e.Route)
            .Append(" status=").Append(e.Status.ToString(CultureInfo.InvariantCulture))
            .Append(" code=").Append(e.Code ?? "-")
            .Append(" org=").Append(e.Org ?? "-")
            .Append(" key_id=").Append(e.KeyId ?? "-")
            .Append(" duration_ms=").Append(e.DurationMs.ToString("0.###", CultureInfo.InvariantCulture))
            .Append(" upstream_ms=").Append(e.UpstreamMs?.ToString("0.###", CultureInfo.InvariantCulture) ?? "-")
            .Append(" client_ip=").Append(e.ClientIp?.ToString() ?? "-")
            .Append(" time=").Append(e.Timestamp.UtcDateTime.ToString("O", CultureInfo.InvariantCulture));
        return line.ToString();
    }

    internal static string Json(AccessLogEntry e)
    {
        var buffer = new ArrayBufferWriter<byte>(256);
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            json.WriteString("time", e.Timestamp.UtcDateTime);
            json.WriteString("requestId", e.RequestId);
            json.WriteString("method", e.Method);
            json.WriteString("route", e.Route);
            json.WriteNumber("status", e.Status);
            Nullable(json, "code", e.Code);
            Nullable(json, "org", e.Org);
            Nullable(json, "keyId", e.KeyId);
            json.WriteNumber("durationMs", Math.Round(e.DurationMs, 3));
            if (e.UpstreamMs is { } upstream)
            {
                json.WriteNumber("upstreamMs", Math.Round(upstream, 3));
            }
            else
            {
                json.WriteNull("upstreamMs");
            }

            Nullable(json, "clientIp", e.ClientIp?.ToString());
            json.WriteEndObject();
        }

        return Encoding.UTF8.GetString(buffer.WrittenSpan);
    }

    private static void Nullable(Utf8JsonWriter json, string name, string? value)
    {
        if (value is null)
        {
            json.WriteNull(name);
        }
        else
        {
            json.WriteString(name, value);
        }
    }

    /// <summary>The entry as structured state (for JSON console and OpenTelemetry log providers) and as one line.</summary>
    private sealed class State(AccessLogEntry e, bool json) : IReadOnlyList<KeyValuePair<string, object?>>
    {
        private KeyValuePair<string, object?>[]? _fields;

        public int Count => Fields.Length;

        public KeyValuePair<string, object?> this[int index] => Fields[index];

        private KeyValuePair<string, object?>[] Fields => _fields ??=
        [
            new("RequestId", e.RequestId),
            new("Method", e.Method),
            new("Route", e.Route),
            new("Status", e.Status),
            new("Code", e.Code),
            new("Org", e.Org),
            new("KeyId", e.KeyId),
            new("DurationMs", Math.Round(e.DurationMs, 3)),
            new("UpstreamMs", e.UpstreamMs is { } u ? Math.Round(u, 3) : null),
            new("ClientIp", e.ClientIp?.ToString()),
            new("{OriginalFormat}", json ? "{AccessLogJson}" : "{AccessLogText}"),
        ];

        public IEnumerator<KeyValuePair<string, object?>> GetEnumerator() => ((IEnumerable<KeyValuePair<string, object?>>)Fields).GetEnumerator();

        System.Collections.IEnumerator System.Collections.IEnumerable.GetEnumerator() => GetEnumerator();

        public override string ToString() => json ? Json(e) : Text(e);
    }
}
