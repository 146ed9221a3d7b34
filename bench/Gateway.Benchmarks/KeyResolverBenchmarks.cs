using BenchmarkDotNet.Attributes;
using Gateway.Domain;
using Gateway.Keys;

namespace Gateway.Benchmarks;

/// <summary>Resolving a hash that is already in the in-process cache: the path nearly every request takes.</summary>
[MemoryDiagnoser]
public class KeyResolverBenchmarks
{
    private readonly KeyDigest _hash = ApiKeyFormat.Digest(BenchData.ValidKey);
    private readonly KeyDigest _unknownHash = ApiKeyFormat.Digest(BenchData.UnknownKey);
    private BenchServices _services = null!;
    private KeyResolver _resolver = null!;

    [GlobalSetup]
    public void Setup()
    {
        _services = new BenchServices();
        _resolver = _services.Resolver;
        // Fill the cache (a positive and a negative entry) before anything is measured.
        _ = _resolver.ResolveAsync(_hash, CancellationToken.None).AsTask().GetAwaiter().GetResult()
            ?? throw new InvalidOperationException("The bench key did not resolve.");
        _ = _resolver.ResolveAsync(_unknownHash, CancellationToken.None).AsTask().GetAwaiter().GetResult();
    }

    [GlobalCleanup]
    public void Cleanup() => _services.Dispose();

    [Benchmark]
    public ValueTask<CachedKey?> ResolveAsync_CacheHit() => _resolver.ResolveAsync(_hash, CancellationToken.None);

    [Benchmark]
    public ValueTask<CachedKey?> ResolveAsync_NegativeCacheHit() => _resolver.ResolveAsync(_unknownHash, CancellationToken.None);
}
