using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Diagnosers;
using BenchmarkDotNet.Jobs;

namespace Gateway.Benchmarks;

/// <summary>
/// One short job (one launch, 3 warm-up and 5 measured iterations) so the whole suite finishes in a
/// few minutes on a 2-core machine. Good enough for ratios and allocations, not for tight error bars.
/// </summary>
public sealed class BenchConfig : ManualConfig
{
    public BenchConfig()
    {
        AddJob(Job.Default.WithId("Short").WithLaunchCount(1).WithWarmupCount(3).WithIterationCount(5));
        AddDiagnoser(MemoryDiagnoser.Default);
        WithOrderer(new BenchmarkDotNet.Order.DefaultOrderer(BenchmarkDotNet.Order.SummaryOrderPolicy.Declared));
        Add(DefaultConfig.Instance);
    }
}
