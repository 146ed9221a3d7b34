using BenchmarkDotNet.Attributes;
using Gateway.Http;
using Gateway.Keys;
using Microsoft.Extensions.Primitives;

namespace Gateway.Benchmarks;

/// <summary>The per-request work done on the key string before any cache lookup.</summary>
[MemoryDiagnoser]
public class KeyFormatBenchmarks
{
    private readonly string _valid = BenchData.ValidKey;
    private readonly string _badChecksum = BenchData.BadChecksumKey;
    private readonly StringValues _authorization = new("Bearer " + BenchData.ValidKey);

    [Benchmark]
    public bool TryParse_Valid() => ApiKeyFormat.TryParse(_valid, out _);

    [Benchmark]
    public bool IsWellFormed_Valid() => ApiKeyFormat.IsWellFormed(_valid);

    [Benchmark]
    public bool TryParse_BadChecksum() => ApiKeyFormat.TryParse(_badChecksum, out _);

    [Benchmark]
    public string Hash() => ApiKeyFormat.Hash(_valid);

    /// <summary>What a request computes: the digest the key cache is keyed on, no hex string.</summary>
    [Benchmark]
    public int Digest() => ApiKeyFormat.Digest(_valid).GetHashCode();

    [Benchmark]
    public int BearerToken_TryParse() =>
        BearerToken.TryParse(_authorization, out var token) == BearerParseResult.Ok ? token.Length : -1;
}
