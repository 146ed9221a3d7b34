using BenchmarkDotNet.Attributes;
using Gateway.Auth;
using Gateway.Configuration;
using Gateway.Customers;
using Gateway.Domain;
using Gateway.Keys;
using Gateway.RateLimiting;
using Gateway.Stores;
using Gateway.Usage;
using Gateway.Verify;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Yarp.ReverseProxy.Configuration;
using Yarp.ReverseProxy.Forwarder;
using Yarp.ReverseProxy.Model;

namespace Gateway.Benchmarks;

/// <summary>
/// The verify API's decision (<see cref="KeyVerifier"/>: format, key cache, the shared key check, and the request
/// stage's limits asked and given back) next to the proxy's authentication stage on the same cached key. Verify does
/// more than the auth stage (it also decides the workspace limit), so the pair shows what the endpoint adds beyond it;
/// the HTTP and JSON around either is not measured here.
/// </summary>
[MemoryDiagnoser]
public class VerifyBenchmarks
{
    private BenchServices _services = null!;
    private KeyVerifier _verifier = null!;
    private KeyAuthenticationMiddleware _middleware = null!;
    private DefaultHttpContext _context = null!;
    private VerifyInput _valid = null!;
    private VerifyInput _unknown = null!;
    private readonly string _header = "Bearer " + BenchData.ValidKey;

    [GlobalSetup]
    public void Setup()
    {
        _services = new BenchServices();
        var provider = _services.Services;
        var options = provider.GetRequiredService<IOptionsMonitor<GatewayOptions>>();
        var time = TimeProvider.System;
        var counter = new LocalRateLimitCounter(time);
        var quotas = new LocalQuotaCounter(null, new LoggingQuotaEvents(NullLogger<LoggingQuotaEvents>.Instance), time);

        // The bench key names a customer that is not registered (only stamped), as most keys do.
        var charger = new LimitCharger(counter, quotas, new RateLimitPolicyResolver(options), new CustomerDirectory(new NoCustomers(), provider.GetRequiredService<IOptions<GatewayOptions>>(), time, provider.GetRequiredService<StoreResilience>()), options, time);
        _verifier = new KeyVerifier(
            provider.GetRequiredService<KeyResolver>(),
            provider.GetRequiredService<KeyUsageTracker>(),
            counter,
            charger,
            quotas,
            new UsageCounters(time),
            options,
            time,
            NullLogger<KeyVerifier>.Instance);
        _valid = new VerifyInput(BenchData.ValidKey, null, ["read"], 1, Charge: false, ClientIp: null);
        _unknown = new VerifyInput(BenchData.UnknownKey, null, ["read"], 1, Charge: false, ClientIp: null);

        _middleware = ActivatorUtilities.CreateInstance<KeyAuthenticationMiddleware>(provider, (RequestDelegate)(_ => Task.CompletedTask));
        var route = new RouteModel(
            new RouteConfig
            {
                RouteId = "bench",
                ClusterId = "bench",
                Match = new RouteMatch { Path = "/bench/{**rest}" },
                Metadata = new Dictionary<string, string> { ["RequiredScopes"] = "read" },
            },
            cluster: null,
            HttpTransformer.Empty);
        _context = new DefaultHttpContext();
        _context.Request.Method = HttpMethods.Get;
        _context.Request.Path = "/bench/hello";
        _context.Features.Set<Yarp.ReverseProxy.Model.IReverseProxyFeature>(new ProxyFeature(route));

        // Warm the cache and check each path ends where its name says.
        if (!_verifier.VerifyAsync(_valid, "acme", CancellationToken.None).AsTask().GetAwaiter().GetResult().Valid
            || _verifier.VerifyAsync(_unknown, "acme", CancellationToken.None).AsTask().GetAwaiter().GetResult().Code != "invalid_key")
        {
            throw new InvalidOperationException("The verifier did not decide as expected.");
        }

        ProxyAuthStage_ValidKey().GetAwaiter().GetResult();
        if (_context.Response.StatusCode != StatusCodes.Status200OK)
        {
            throw new InvalidOperationException("The auth stage refused the valid key.");
        }
    }

    [GlobalCleanup]
    public void Cleanup() => _services.Dispose();

    [Benchmark(Baseline = true)]
    public Task ProxyAuthStage_ValidKey()
    {
        _context.Request.Headers.Authorization = _header;
        return _middleware.InvokeAsync(_context);
    }

    // The answer is internal: the benchmarks return whether it was valid (an await of a completed ValueTask).
    [Benchmark]
    public async ValueTask<bool> Verify_ValidKey() => (await _verifier.VerifyAsync(_valid, "acme", CancellationToken.None)).Valid;

    [Benchmark]
    public async ValueTask<bool> Verify_UnknownKey() => (await _verifier.VerifyAsync(_unknown, "acme", CancellationToken.None)).Valid;

    private sealed class ProxyFeature(RouteModel route) : Yarp.ReverseProxy.Model.IReverseProxyFeature
    {
        public RouteModel Route { get; } = route;

        public ClusterModel Cluster => null!;

        public IReadOnlyList<DestinationState> AllDestinations => [];

        public IReadOnlyList<DestinationState> AvailableDestinations { get; set; } = [];

        public DestinationState? ProxiedDestination { get; set; }
    }
}

/// <summary>A customer store with no customers: the directory caches the miss, as it does for an unregistered customer id.</summary>
internal sealed class NoCustomers : ICustomerStore
{
    public Task CreateAsync(Customer customer, AuditEntry? audit, CancellationToken cancellationToken) => Task.CompletedTask;

    public Task<Customer?> GetAsync(string orgId, string id, CancellationToken cancellationToken) => Task.FromResult<Customer?>(null);

    public Task<IReadOnlyList<Customer>> ListAsync(string orgId, CancellationToken cancellationToken) => Task.FromResult<IReadOnlyList<Customer>>([]);

    public Task<IReadOnlyList<Customer>> ListAfterAsync(string orgId, string? afterId, int? count, CancellationToken cancellationToken) => Task.FromResult<IReadOnlyList<Customer>>([]);

    public Task<bool> UpdateAsync(Customer customer, AuditEntry audit, CancellationToken cancellationToken) => Task.FromResult(false);

    public Task<bool> DeleteAsync(string orgId, string id, AuditEntry audit, CancellationToken cancellationToken) => Task.FromResult(false);
}
