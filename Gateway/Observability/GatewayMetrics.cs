using System.Diagnostics.Metrics;

namespace Gateway.Observability;

/// <summary>
/// The gateway's instruments, on a <see cref="Meter"/> named <see cref="MeterName"/> from the host's
/// <see cref="IMeterFactory"/>: dotnet-counters and OpenTelemetry see them, and the admin listener's
/// <c>/metrics</c> serves them as Prometheus text through <see cref="PrometheusMetrics"/>. Each host has its
/// own meter, so two gateways in one process (tests) never count each other's traffic.
/// Tags never carry key material. Every call is guarded by <c>Enabled</c> so that a host nobody listens
/// to pays nothing, and passes its tags as separate arguments, which allocates nothing.
/// </summary>
internal sealed class GatewayMetrics
{
    public const string MeterName = "Gateway";

    private readonly Counter<long> _requests;
    private readonly Counter<long> _authDecisions;
    private readonly Counter<long> _limitDecisions;
    private readonly Histogram<double> _storeDuration;
    private readonly Counter<long> _cacheLookups;
    private readonly Counter<long> _staleServed;
    private readonly Counter<long> _accessLogDropped;
    private readonly Counter<long> _approximateIp;
    private readonly Meter _meter;

    public GatewayMetrics(IMeterFactory meterFactory)
    {
        var meter = _meter = meterFactory.Create(MeterName);
        _requests = meter.CreateCounter<long>("gateway.requests", "{request}", "Proxy listener requests by route, status and outcome.");
        _authDecisions = meter.CreateCounter<long>("gateway.auth.decisions", "{decision}", "Key authentication decisions by result (allowed or the error code).");
        _limitDecisions = meter.CreateCounter<long>("gateway.ratelimit.decisions", "{decision}", "Rate limit decisions by limit and result.");
        _storeDuration = meter.CreateHistogram(
            "gateway.store.duration",
            "s",
            "Store call latency by operation.",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = StoreBuckets });
        _cacheLookups = meter.CreateCounter<long>("gateway.key_cache.lookups", "{lookup}", "Key cache lookups by result (hit or miss); hit ratio = hit / (hit + miss).");
        _staleServed = meter.CreateCounter<long>("gateway.key_cache.stale_served", "{key}", "Keys served from a stale cache entry because the store did not answer.");
        _accessLogDropped = meter.CreateCounter<long>("gateway.access_log.dropped", "{entry}", "Access log entries dropped because the writer's buffer was full.");
        _approximateIp = meter.CreateCounter<long>("gateway.ratelimit.ip.approximate", "{decision}", "IP limit decisions made by the sketch (client addresses past the exact set), by result.");
    }

    /// <summary>0.1 ms doubling to about 3.3 s: the buckets the Prometheus histogram has always had.</summary>
    internal static IReadOnlyList<double> StoreBuckets { get; } = Enumerable.Range(0, 16).Select(i => 0.0001 * Math.Pow(2, i)).ToArray();

    public void Request(string route, int status, string outcome)
    {
        if (_requests.Enabled)
        {
            _requests.Add(1, new("route", route), new("status", StatusText(status)), new("outcome", outcome));
        }
    }

    public void AuthDecision(string result)
    {
        if (_authDecisions.Enabled)
        {
            _authDecisions.Add(1, new KeyValuePair<string, object?>("result", result));
        }
    }

    public void LimitDecision(string limit, bool allowed)
    {
        if (_limitDecisions.Enabled)
        {
            _limitDecisions.Add(1, new("limit", limit), new("result", allowed ? "allowed" : "rejected"));
        }
    }

    public void ApproximateIpDecision(bool allowed)
    {
        if (_approximateIp.Enabled)
        {
            _approximateIp.Add(1, new KeyValuePair<string, object?>("result", allowed ? "allowed" : "rejected"));
        }
    }

    public void StoreCall(string operation, TimeSpan elapsed)
    {
        if (_storeDuration.Enabled)
        {
            _storeDuration.Record(elapsed.TotalSeconds, new KeyValuePair<string, object?>("operation", operation));
        }
    }

    public void CacheLookup(bool hit)
    {
        if (_cacheLookups.Enabled)
        {
            _cacheLookups.Add(1, new KeyValuePair<string, object?>("result", hit ? "hit" : "miss"));
        }
    }

    public void StaleServedOnce() => _staleServed.Add(1);

    /// <summary>Reports the key cache's size at each collection (one cache per host: called once, by its owner).</summary>
    public void ObserveKeyCacheEntries(Func<int> entries) =>
        _meter.CreateObservableGauge("gateway.key_cache.entries", entries, "{entry}", "Entries in the key cache (known and unknown hashes), bounded by Cache:MaxEntries.");

    public void AccessLogDropped() => _accessLogDropped.Add(1);

    private static string StatusText(int status) => status switch
    {
        200 => "200",
        401 => "401",
        403 => "403",
        404 => "404",
        429 => "429",
        502 => "502",
        503 => "503",
        504 => "504",
        _ => status.ToString(System.Globalization.CultureInfo.InvariantCulture),
    };
}
