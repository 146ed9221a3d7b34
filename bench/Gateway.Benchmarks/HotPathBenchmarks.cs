using BenchmarkDotNet.Attributes;
using Gateway.Configuration;
using Gateway.Keys;
using Gateway.Observability;
using Gateway.Proxy;
using Gateway.RateLimiting;
using Gateway.Stores;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Options;

namespace Gateway.Benchmarks;

/// <summary>The per-request work after parsing: cache hit, header strip and stamp, two-limit charge.</summary>
[MemoryDiagnoser]
public class HotPathBenchmarks
{
    private static readonly ApiKeyRecord Key = new()
    {
        Id = "key_0123456789abcdefghij", OrgId = "acme", Name = "server_prod", Prefix = "gw_live_a1B2c3", Hash = "h",
        Environment = KeyEnvironments.Production, Scopes = ["read", "write"], CreatedAt = DateTimeOffset.UnixEpoch,
        UpdatedAt = DateTimeOffset.UnixEpoch, CustomerId = "cust_42", Version = 1,
    };

    private KeyResolver _resolver = null!;
    private LocalRateLimitCounter _limits = null!;
    private LimitSpec[] _specs = null!;
    private string _hash = null!;

    [GlobalSetup]
    public async Task Setup()
    {
        var options = Options.Create(new GatewayOptions());
        _hash = ApiKeyFormat.Hash(ApiKeyFormat.Generate("gw", KeyEnvironments.Production));
        _resolver = new KeyResolver(new SingleKeyStore(Key with { Hash = _hash }), options, TimeProvider.System, new StoreResilience(options, TimeProvider.System), new GatewayMetrics());
        await _resolver.ResolveAsync(_hash, CancellationToken.None);
        _limits = new LocalRateLimitCounter(TimeProvider.System);
        _specs =
        [
            new LimitSpec(LimitSpec.Ip, "ip:203.0.113.7", int.MaxValue, TimeSpan.FromMinutes(1)),
            new LimitSpec(LimitSpec.Workspace, "ws:acme", int.MaxValue, TimeSpan.FromMinutes(1)),
        ];
    }

    [Benchmark]
    public ValueTask<ApiKeyRecord?> ResolveCachedKey() => _resolver.ResolveAsync(_hash, CancellationToken.None);

    [Benchmark]
    public int StripAndStampHeaders()
    {
        var headers = new HeaderDictionary
        {
            ["Host"] = "api.example.com",
            ["Accept"] = "application/json",
            ["User-Agent"] = "bench/1.0",
            ["X-Org-Id"] = "spoofed",
            ["X-Key-Scopes"] = "*",
            ["Authorization"] = "Bearer x",
        };
        IdentityHeaders.RemoveClientCopies(headers);
        headers.Remove("Authorization");
        IdentityHeaders.Stamp(headers, Key);
        return headers.Count;
    }

    [Benchmark]
    public async Task<bool> ChargeIpAndWorkspaceLimits() => (await _limits.AcquireAsync(_specs, CancellationToken.None)).Allowed;

    private sealed class SingleKeyStore(ApiKeyRecord key) : IGatewayStore
    {
        public Task<ApiKeyRecord?> FindKeyByHashAsync(string hash, CancellationToken cancellationToken) => Task.FromResult<ApiKeyRecord?>(hash == key.Hash ? key : null);

        public Task InitializeAsync(CancellationToken cancellationToken) => Task.CompletedTask;

        public Task PingAsync(CancellationToken cancellationToken) => Task.CompletedTask;

        public Task CreateOrganizationAsync(Organization organization, ApiKeyRecord defaultKey, AuditEntry audit, CancellationToken cancellationToken) => throw new NotSupportedException();

        public Task<Organization?> GetOrganizationAsync(string id, CancellationToken cancellationToken) => throw new NotSupportedException();

        public Task<IReadOnlyList<Organization>> ListOrganizationsAsync(CancellationToken cancellationToken) => throw new NotSupportedException();

        public Task CreateKeyAsync(ApiKeyRecord key, AuditEntry audit, CancellationToken cancellationToken) => throw new NotSupportedException();

        public Task UpdateKeyAsync(ApiKeyRecord key, long expectedVersion, AuditEntry audit, CancellationToken cancellationToken) => throw new NotSupportedException();

        public Task<ApiKeyRecord?> GetKeyAsync(string id, CancellationToken cancellationToken) => throw new NotSupportedException();

        public Task<IReadOnlyList<ApiKeyRecord>> ListKeysAsync(string orgId, CancellationToken cancellationToken) => throw new NotSupportedException();

        public Task<AuditPage> ListAuditAsync(string orgId, string? cursor, int limit, CancellationToken cancellationToken) => throw new NotSupportedException();

        public Task RecordKeyUsageAsync(IReadOnlyCollection<KeyValuePair<string, DateTimeOffset>> usage, CancellationToken cancellationToken) => throw new NotSupportedException();
    }
}
