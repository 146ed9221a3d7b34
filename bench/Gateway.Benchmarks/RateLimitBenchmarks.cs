using BenchmarkDotNet.Attributes;
using Gateway.RateLimiting;

namespace Gateway.Benchmarks;

/// <summary>
/// Charging one request to the IP and workspace limits together on the per-instance counter (the
/// embedded store's limiter), with limits so high that every request is allowed.
/// </summary>
[MemoryDiagnoser]
public class RateLimitBenchmarks
{
    private LocalRateLimitCounter _limits = null!;
    private LimitSpec[] _specs = null!;

    [GlobalSetup]
    public void Setup()
    {
        _limits = new LocalRateLimitCounter(TimeProvider.System);
        _specs =
        [
            new LimitSpec(LimitSpec.Ip, "ip:203.0.113.7", int.MaxValue, TimeSpan.FromMinutes(1)),
            new LimitSpec(LimitSpec.Workspace, "ws:acme", int.MaxValue, TimeSpan.FromMinutes(1)),
        ];
    }

    [GlobalCleanup]
    public void Cleanup() => _limits.Dispose();

    [Benchmark]
    public async Task<bool> AcquireAsync_IpAndWorkspace() => (await _limits.AcquireAsync(_specs, CancellationToken.None)).Allowed;
}
