using BenchmarkDotNet.Attributes;
using Gateway.Auth;
using Microsoft.AspNetCore.Connections.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Yarp.ReverseProxy.Configuration;
using Yarp.ReverseProxy.Forwarder;
using Yarp.ReverseProxy.Model;

namespace Gateway.Benchmarks;

/// <summary>
/// One pass of the authentication stage of the YARP pipeline on a reused <see cref="DefaultHttpContext"/>
/// whose route requires the <c>read</c> scope, with the key already cached: everything the gateway adds
/// to a request between YARP's route match and the forwarder, minus the identity-header strip done by
/// the guard stage and the stamp done on the upstream request (see <see cref="IdentityHeadersBenchmarks"/>). Each invocation first puts the
/// client's <c>Authorization</c> header back, since a successful pass removes it. The contexts have no
/// connection, so the key is hashed on every pass, except in the kept-alive case, which has one.
/// </summary>
[MemoryDiagnoser]
public class KeyAuthenticationMiddlewareBenchmarks
{
    private BenchServices _services = null!;
    private KeyAuthenticationMiddleware _middleware = null!;
    private DefaultHttpContext _valid = null!;
    private DefaultHttpContext _keptAlive = null!;
    private DefaultHttpContext _badChecksum = null!;
    private DefaultHttpContext _unknown = null!;
    private readonly string _validHeader = "Bearer " + BenchData.ValidKey;
    private readonly string _badChecksumHeader = "Bearer " + BenchData.BadChecksumKey;
    private readonly string _unknownHeader = "Bearer " + BenchData.UnknownKey;

    [GlobalSetup]
    public void Setup()
    {
        _services = new BenchServices();
        _middleware = ActivatorUtilities.CreateInstance<KeyAuthenticationMiddleware>(_services.Services, (RequestDelegate)(_ => Task.CompletedTask));

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
        _valid = NewContext(route);

        // As Kestrel serves an HTTP/1.1 connection: connection items, and the same string for an unchanged header.
        _keptAlive = NewContext(route);
        _keptAlive.Request.Protocol = HttpProtocol.Http11;
        _keptAlive.Features.Set<IConnectionItemsFeature>(new ConnectionItems());
        _badChecksum = NewContext(route);
        _unknown = NewContext(route);

        // Warm the cache and check each context ends where its name says.
        Run(_valid, _validHeader, StatusCodes.Status200OK);
        Run(_keptAlive, _validHeader, StatusCodes.Status200OK);
        Run(_badChecksum, _badChecksumHeader, StatusCodes.Status401Unauthorized);
        Run(_unknown, _unknownHeader, StatusCodes.Status401Unauthorized);
        if (_valid.Features.Get<IApiKeyFeature>()?.Key.OrgId != "acme")
        {
            throw new InvalidOperationException("The valid key was not authenticated.");
        }
    }

    [GlobalCleanup]
    public void Cleanup() => _services.Dispose();

    [Benchmark]
    public Task Invoke_ValidKey_CallsNext()
    {
        _valid.Request.Headers.Authorization = _validHeader;
        return _middleware.InvokeAsync(_valid);
    }

    /// <summary>The same key as the connection's previous request: its digest is remembered, no SHA-256.</summary>
    [Benchmark]
    public Task Invoke_ValidKey_KeptAliveConnection_CallsNext()
    {
        _keptAlive.Request.Headers.Authorization = _validHeader;
        return _middleware.InvokeAsync(_keptAlive);
    }

    [Benchmark]
    public Task Invoke_BadChecksum_Returns401()
    {
        _badChecksum.Request.Headers.Authorization = _badChecksumHeader;
        return _middleware.InvokeAsync(_badChecksum);
    }

    [Benchmark]
    public Task Invoke_UnknownKey_Returns401()
    {
        _unknown.Request.Headers.Authorization = _unknownHeader;
        return _middleware.InvokeAsync(_unknown);
    }

    private static DefaultHttpContext NewContext(RouteModel route)
    {
        var context = new DefaultHttpContext();
        context.Request.Method = HttpMethods.Get;
        context.Request.Path = "/bench/hello";
        context.Request.Headers.Host = "api.example.com";
        context.Request.Headers.Accept = "application/json";
        context.Request.Headers.UserAgent = "acme-sdk/2.4.1";
        context.Features.Set<IReverseProxyFeature>(new BenchProxyFeature(route));
        return context;
    }

    private void Run(DefaultHttpContext context, string authorization, int expectedStatus)
    {
        context.Request.Headers.Authorization = authorization;
        _middleware.InvokeAsync(context).GetAwaiter().GetResult();
        if (context.Response.StatusCode != expectedStatus)
        {
            throw new InvalidOperationException($"Expected {expectedStatus}, got {context.Response.StatusCode}.");
        }
    }

    private sealed class ConnectionItems : IConnectionItemsFeature
    {
        public IDictionary<object, object?> Items { get; set; } = new Dictionary<object, object?>();
    }

    private sealed class BenchProxyFeature(RouteModel route) : IReverseProxyFeature
    {
        public RouteModel Route { get; } = route;

        // The authentication stage never looks at the cluster.
        public ClusterModel Cluster => null!;

        public IReadOnlyList<DestinationState> AllDestinations => [];

        public IReadOnlyList<DestinationState> AvailableDestinations { get; set; } = [];

        public DestinationState? ProxiedDestination { get; set; }
    }
}
