using Microsoft.Extensions.Options;

namespace Gateway.RequestLog;

/// <summary>Settings under <c>Gateway:RequestLog</c>: one stored record per request that reached authentication.</summary>
internal sealed class RequestLogOptions
{
    public const string SectionName = "Gateway:RequestLog";

    public bool Enabled { get; set; } = true;

    /// <summary>Records older than this are not shown and are removed.</summary>
    public TimeSpan Retention { get; set; } = TimeSpan.FromDays(7);

    /// <summary>Most records kept per organization (and for requests under no organization); the oldest go first.</summary>
    public int MaxPerOrg { get; set; } = 100_000;

    /// <summary>Records waiting for the writer; when full, new records are dropped and counted.</summary>
    public int BufferSize { get; set; } = 10_000;

    /// <summary>
    /// Most records written to the store in one batch; unset, the store's own default
    /// (<see cref="SqliteBatchSize"/> or <see cref="RedisBatchSize"/>), applied when the options are built.
    /// </summary>
    public int? BatchSize { get; set; }

    /// <summary>
    /// SQLite's default batch: a batch is one transaction, and with many organizations each one's share of a batch is
    /// a row and an index entry, so a transaction's cost is mostly the index pages it rewrites, whatever number of
    /// records it carries. At 1,000 organizations, batches of 500 cost the store's writer 1.2 to 2 times what one batch
    /// per 200 ms gathering does (docs/performance.md).
    /// </summary>
    public const int SqliteBatchSize = 5_000;

    /// <summary>
    /// Redis's default batch: its records go out as script calls of at most 90 records each, all awaited together, so
    /// the batch bounds what one write has in flight.
    /// </summary>
    public const int RedisBatchSize = 500;

    /// <summary>Also send each record as an OpenTelemetry log record to <c>OTEL_EXPORTER_OTLP_ENDPOINT</c> when that is set.</summary>
    public bool Otlp { get; set; } = true;
}

internal sealed class RequestLogOptionsValidator : IValidateOptions<RequestLogOptions>
{
    public ValidateOptionsResult Validate(string? name, RequestLogOptions options)
    {
        const string S = RequestLogOptions.SectionName;
        var errors = new List<string>();
        if (options.Retention < TimeSpan.FromMinutes(1) || options.Retention > TimeSpan.FromDays(3650))
        {
            errors.Add($"{S}:Retention must be between 00:01:00 and 3650.00:00:00 (got {options.Retention}).");
        }

        if (options.MaxPerOrg is < 1 or > 100_000_000)
        {
            errors.Add($"{S}:MaxPerOrg must be between 1 and 100000000 (got {options.MaxPerOrg}).");
        }

        if (options.BufferSize is < 1 or > 1_000_000)
        {
            errors.Add($"{S}:BufferSize must be between 1 and 1000000 (got {options.BufferSize}).");
        }

        if (options.BatchSize is < 1 or > 10_000)
        {
            errors.Add($"{S}:BatchSize must be between 1 and 10000 (got {options.BatchSize}).");
        }

        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }
}
