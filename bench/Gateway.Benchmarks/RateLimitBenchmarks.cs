using System.Net;
using BenchmarkDotNet.Attributes;
using Gateway.Http;
using Gateway.RateLimiting;

namespace Gateway.Benchmarks;

/// <summary>
/// The per-instance counter (the embedded store's limiter) on a hot partition: the IP stage's permit,
/// then the request stage's workspace and key permits together, with limits so high that every
/// request is allowed. The batch is reused, as a request reuses its feature across both stages.
/// </summary>
[MemoryDiagnoser]
public class RateLimitBenchmarks
{
    private LocalRateLimitCounter _limits = null!;
    private LimitBatch _batch = null!;
    private LimitSpec _ip;
    private LimitSpec _workspace;
    private LimitSpec _key;

    [GlobalSetup]
    public void Setup()
    {
        _limits = new LocalRateLimitCounter(TimeProvider.System);
        _batch = new LimitBatch();
        _ip = LimitSpec.ForIp(IpGroups.Group(IPAddress.Parse("203.0.113.7"), 64), int.MaxValue, TimeSpan.FromMinutes(1));
        _workspace = LimitSpec.ForWorkspace("acme", int.MaxValue, TimeSpan.FromMinutes(1));
        _key = LimitSpec.ForKey("key_01", int.MaxValue, TimeSpan.FromMinutes(1));
    }

    [Benchmark]
    public bool IpStage()
    {
        _batch.Count = 0;
        _batch.Add(_ip);
        return _limits.AcquireIp(_batch) == IpDecision.Allowed;
    }

    [Benchmark]
    public bool BothStages_IpWorkspaceKey()
    {
        _batch.Count = 0;
        _batch.Add(_ip);
        var ip = _limits.AcquireIp(_batch) == IpDecision.Allowed;
        _batch.Add(_workspace);
        _batch.Add(_key);
        return ip && _limits.TryAcquire(_batch, 1, _batch.Count);
    }
}
