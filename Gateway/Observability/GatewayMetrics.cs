using System.Diagnostics.Metrics;

namespace Gateway.Observability;

/// <summary>
/// The gateway's instruments, created once from <see cref="IMeterFactory"/>; <c>/metrics</c> exposes
/// them in Prometheus text through prometheus-net's meter adapter. Tags never carry key material.
/// </summary>
internal sealed class GatewayMetrics
{
    public const string MeterName = "Gateway";

    private readonly Counter<long> _requests;
    private readonly Counter<long> _authDecisions;
    private readonly Counter<long> _limitDecisions;
    private readonly Histogram<double> _storeLatency;
    private readonly Counter<long> _cacheLookups;
    private readonly Counter<long> _staleServed;

    public GatewayMetrics(IMeterFactory meterFactory)
    {
        var meter = meterFactory.Create(MeterName);
        _requests = meter.CreateCounter<long>("requests", description: "Proxied requests by route, status and outcome.");
        _authDecisions = meter.CreateCounter<long>("auth.decisions", description: "Key authentication decisions by result.");
        _limitDecisions = meter.CreateCounter<long>("ratelimit.decisions", description: "Rate limit decisions by limit and result.");
        _storeLatency = meter.CreateHistogram<double>("store.duration", unit: "s", description: "Store call latency.");
        _cacheLookups = meter.CreateCounter<long>("key_cache.lookups", description: "Key cache lookups by result (hit or miss).");
        _staleServed = meter.CreateCounter<long>("key_cache.stale_served", description: "Keys served from a stale cache entry because the store did not answer.");
    }

    public void Request(string route, int status, string outcome)
    {
        if (_requests.Enabled)
        {
            _requests.Add(1, new KeyValuePair<string, object?>("route", route), new KeyValuePair<string, object?>("status", status), new KeyValuePair<string, object?>("outcome", outcome));
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
            _limitDecisions.Add(1, new KeyValuePair<string, object?>("limit", limit), new KeyValuePair<string, object?>("result", allowed ? "allowed" : "rejected"));
        }
    }

    public void StoreCall(string operation, TimeSpan elapsed)
    {
        if (_storeLatency.Enabled)
        {
            _storeLatency.Record(elapsed.TotalSeconds, new KeyValuePair<string, object?>("operation", operation));
        }
    }

    public void CacheLookup(bool hit)
    {
        if (_cacheLookups.Enabled)
        {
            _cacheLookups.Add(1, new KeyValuePair<string, object?>("result", hit ? "hit" : "miss"));
        }
    }

    public void StaleServed()
    {
        if (_staleServed.Enabled)
        {
            _staleServed.Add(1);
        }
    }
}
