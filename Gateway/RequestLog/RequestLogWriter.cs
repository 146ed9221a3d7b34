using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Threading.Channels;
using Gateway.Observability;
using Microsoft.Extensions.Options;

namespace Gateway.RequestLog;

/// <summary>
/// Writes request records from a bounded buffer in batches on a background task, so the store never slows a
/// request: when the buffer is full a record is dropped and counted (<c>gateway_request_log_dropped_total</c>).
/// After writes, the retention and the per-organization cap are applied at most once per <see cref="TrimEvery"/>.
/// Each record also goes to <see cref="RequestLogExport"/> (OpenTelemetry log records) when that is on.
/// On shutdown the buffer is drained.
/// </summary>
internal sealed partial class RequestLogWriter : BackgroundService
{
    public static readonly TimeSpan TrimEvery = TimeSpan.FromSeconds(1);

    /// <summary>
    /// How long the writer lets records gather after the first one arrives, unless a full batch is waiting: at
    /// thousands of requests a second a write per wake-up was a transaction per handful of records, and the
    /// transactions, not the rows, were most of the log's cost. A record reaches the store within about this long
    /// (the embedded store may then hold it a little longer for a fuller row: <see cref="SqliteRequestLogStore.HoldFor"/>).
    /// </summary>
    public static readonly TimeSpan GatherFor = TimeSpan.FromMilliseconds(200);

    private readonly Channel<PendingRequestRecord> _buffer;
    private readonly IRequestLogStore _store;
    private readonly RequestLogOptions _options;
    private readonly int _batchSize;
    private readonly RequestLogExport _export;
    private readonly TimeProvider _time;
    private readonly ILogger<RequestLogWriter> _logger;
    private readonly Counter<long> _dropped;
    private readonly Counter<long> _written;
    /// <summary>Organizations written to since their last trim ('' for none), with how many records.</summary>
    private readonly Dictionary<string, long> _untrimmed = new(StringComparer.Ordinal);
    private long _lastTrim;

    /// <summary>Cancelled when the shutdown timeout ended before the last records were written: no store call is made after it.</summary>
    private readonly CancellationTokenSource _giveUp = new();

    public RequestLogWriter(IRequestLogStore store, IOptions<RequestLogOptions> options, RequestLogExport export, TimeProvider time, IMeterFactory meters, ILogger<RequestLogWriter> logger)
    {
        _options = options.Value;
        // The store's default is filled in when the options are built (AddGatewayRequestLog), the one place that knows the store.
        _batchSize = _options.BatchSize ?? throw new InvalidOperationException($"{RequestLogOptions.SectionName}:BatchSize was not set: options built without AddGatewayRequestLog.");
        _buffer = Channel.CreateBounded<PendingRequestRecord>(new BoundedChannelOptions(_options.BufferSize)
        {
            FullMode = BoundedChannelFullMode.DropWrite,
            SingleReader = true,
        });
        _store = store;
        _export = export;
        _time = time;
        _logger = logger;
        var meter = meters.Create(GatewayMetrics.MeterName);
        _dropped = meter.CreateCounter<long>("gateway.request_log.dropped", "{record}", "Request log records dropped: the writer's buffer was full or the store refused the batch.");
        _written = meter.CreateCounter<long>("gateway.request_log.written", "{record}", "Request log records written to the store.");
    }

    public bool IsEnabled => _options.Enabled;

    /// <summary>Never blocks: a full buffer drops the record.</summary>
    public void Write(in PendingRequestRecord record)
    {
        if (!_buffer.Writer.TryWrite(record))
        {
            _dropped.Add(1);
        }
    }

    /// <summary>
    /// Writes what requests handed over before the server stopped, and returns only once nothing more will be written:
    /// the store behind the log (the embedded store's background writer, the Redis connection) is disposed after the
    /// host has stopped, and a write left running past this was refused by a disposed writer. If the shutdown timeout
    /// ends first, the records not written yet are dropped, counted and logged, without another store call.
    /// </summary>
    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        _buffer.Writer.TryComplete();
        await base.StopAsync(cancellationToken);
        if (ExecuteTask is { IsCompleted: false } writing)
        {
            await _giveUp.CancelAsync();
            await writing.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        }
    }

    public override void Dispose()
    {
        base.Dispose();
        _giveUp.Dispose();
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var reader = _buffer.Reader;
        var batch = new List<RequestRecord>(_batchSize);
        Task<bool>? waiting = null;
        while (true)
        {
            waiting ??= reader.WaitToReadAsync(CancellationToken.None).AsTask();
            if (_untrimmed.Count > 0)
            {
                // Records are waiting to be trimmed: wake for them even when no new record arrives.
                await Task.WhenAny(waiting, Task.Delay(TrimEvery, CancellationToken.None));
            }
            else
            {
                await waiting;
            }

            var more = true;
            if (waiting.IsCompleted)
            {
                more = await waiting;
                waiting = null;
                if (more && reader.Count < _batchSize)
                {
                    // Real time, not the injected clock: a test's frozen clock must not stop the log.
                    await Task.Delay(GatherFor, CancellationToken.None);
                }
            }

            var drained = 0;
            while (reader.TryRead(out var record))
            {
                drained++;
                batch.Add(record.ToRecord());
                if (batch.Count == _batchSize)
                {
                    await FlushAsync(batch);
                }
            }

            if (batch.Count > 0)
            {
                await FlushAsync(batch);
            }

            if (_untrimmed.Count > 0 && (!more || Stopwatch.GetElapsedTime(_lastTrim) >= TrimEvery))
            {
                await TrimAsync(idle: drained == 0 || !more);
            }

            if (!more)
            {
                return;
            }
        }
    }

    private async Task FlushAsync(List<RequestRecord> batch)
    {
        try
        {
            _giveUp.Token.ThrowIfCancellationRequested();
            await _store.AppendAsync(batch, _giveUp.Token);
            _written.Add(batch.Count);
            foreach (var record in batch)
            {
                _untrimmed[record.OrgId ?? ""] = _untrimmed.GetValueOrDefault(record.OrgId ?? "") + 1;
                _export.Export(record);
            }
        }
        catch (Exception ex)
        {
            // The store is down or refused: these records are lost and counted; requests never wait for it.
            _dropped.Add(batch.Count);
            Log.WriteFailed(_logger, batch.Count, ex);
        }

        batch.Clear();
    }

    /// <summary>
    /// Applies the retention and the cap to the organizations that need it. While records keep coming, an
    /// organization is trimmed once a tenth of its cap has arrived since its last trim: finding the cap's edge
    /// walks <c>MaxPerOrg</c> index entries, and doing that every second at thousands of records a second cost as
    /// much as the inserts. When the writer is idle every organization written to is trimmed, so a quiet log holds
    /// exactly the cap; a busy one holds at most a tenth more for a moment. Reads never show a record past the
    /// retention either way.
    /// </summary>
    private async Task TrimAsync(bool idle)
    {
        _lastTrim = Stopwatch.GetTimestamp();
        var slack = Math.Max(1, _options.MaxPerOrg / 10);
        var due = _untrimmed.Where(o => idle || o.Value >= slack).Select(o => o.Key).ToList();
        if (due.Count == 0)
        {
            return;
        }

        try
        {
            _giveUp.Token.ThrowIfCancellationRequested();
            await _store.TrimAsync(due, _time.GetUtcNow() - _options.Retention, _options.MaxPerOrg, _giveUp.Token);
            foreach (var org in due)
            {
                _untrimmed.Remove(org);
            }
        }
        catch (Exception ex)
        {
            Log.TrimFailed(_logger, ex);
        }
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = EventIds.RequestLogWriteFailed, Level = LogLevel.Warning, Message = "Request log: {Count} records could not be written and were dropped.")]
        public static partial void WriteFailed(ILogger logger, int count, Exception exception);

        [LoggerMessage(EventId = EventIds.RequestLogTrimFailed, Level = LogLevel.Warning, Message = "Request log: applying the retention and the cap failed; retried after the next write.")]
        public static partial void TrimFailed(ILogger logger, Exception exception);
    }
}
