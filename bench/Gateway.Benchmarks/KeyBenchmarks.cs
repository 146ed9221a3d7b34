using BenchmarkDotNet.Attributes;
using Gateway.Auth;
using Gateway.Keys;
using Microsoft.Extensions.Primitives;

namespace Gateway.Benchmarks;

/// <summary>What every authenticated request pays before any cache lookup.</summary>
[MemoryDiagnoser]
public class KeyBenchmarks
{
    private readonly string _key = ApiKeyFormat.Generate("gw", KeyEnvironments.Production);
    private string _badChecksum = null!;
    private StringValues _header;

    [GlobalSetup]
    public void Setup()
    {
        _badChecksum = _key[..^1] + (_key[^1] == 'A' ? 'B' : 'A');
        _header = new StringValues("Bearer " + _key);
    }

    [Benchmark]
    public bool ParseValidKey() => ApiKeyFormat.TryParse(_key, out _);

    [Benchmark]
    public bool ParseBadChecksum() => ApiKeyFormat.TryParse(_badChecksum, out _);

    [Benchmark]
    public string HashKey() => ApiKeyFormat.Hash(_key);

    [Benchmark]
    public int ParseBearerHeader() => BearerToken.TryParse(_header, out var token) == BearerParseResult.Ok ? token.Length : 0;
}
