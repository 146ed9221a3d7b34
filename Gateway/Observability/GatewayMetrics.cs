using Prometheus;

namespace Gateway.Observability;

/// <summary>
/// The gateway's Prometheus instruments, exposed at <c>/metrics</c> on the admin listener. They are
/// prometheus-net collectors rather than System.Diagnostics.Metrics instruments bridged by its meter
/// adapter: the adapter publishes on its own schedule and expires idle series, so a scrape could miss
/// recent requests. Labels never carry key material.
/// </summary>
internal sealed class GatewayMetrics
{
    private readonly Counter Requests = Metrics.CreateCounter(
        "gateway_requests_total", "Proxy listener requests by route, status and outcome.", "route", "status", "outcome");

    private readonly Counter AuthDecisions = Metrics.CreateCounter(
        "gateway_auth_decisions_total", "Key authentication decisions by result (allowed or the error code).", "result");

    private readonly Counter LimitDecisions = Metrics.CreateCounter(
        "gateway_ratelimit_decisions_total", "Rate limit decisions by limit and result.", "limit", "result");

    private readonly Histogram StoreLatency = Metrics.CreateHistogram(
        "gateway_store_duration_seconds", "Store call latency by operation.",
        new HistogramConfiguration { LabelNames = ["operation"], Buckets = Histogram.ExponentialBuckets(0.0001, 2, 16) });

    private readonly Counter CacheLookups = Metrics.CreateCounter(
        "gateway_key_cache_lookups_total", "Key cache lookups by result (hit or miss); hit ratio = hit / (hit + miss).", "result");

    private readonly Counter StaleServed = Metrics.CreateCounter(
        "gateway_key_cache_stale_served_total", "Keys served from a stale cache entry because the store did not answer.");

    public void Request(string route, int status, string outcome) =>
        Requests.WithLabels(route, StatusText(status), outcome).Inc();

    public void AuthDecision(string result) => AuthDecisions.WithLabels(result).Inc();

    public void LimitDecision(string limit, bool allowed) => LimitDecisions.WithLabels(limit, allowed ? "allowed" : "rejected").Inc();

    public void StoreCall(string operation, TimeSpan elapsed) => StoreLatency.WithLabels(operation).Observe(elapsed.TotalSeconds);

    public void CacheLookup(bool hit) => CacheLookups.WithLabels(hit ? "hit" : "miss").Inc();

    public void StaleServedOnce() => StaleServed.Inc();

    private static string StatusText(int status) => status switch
    {
        200 => "200",
        401 => "401",
        403 => "403",
        404 => "404",
        429 => "429",
        _ => status.ToString(System.Globalization.CultureInfo.InvariantCulture),
    };
}
