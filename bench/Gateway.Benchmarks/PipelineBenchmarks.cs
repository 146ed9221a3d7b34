using BenchmarkDotNet.Attributes;
using Gateway.Hosting;
using Gateway.Keys;
using Gateway.Stores;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Connections.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.TestHost;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Yarp.ReverseProxy.Configuration;
using Yarp.ReverseProxy.Forwarder;

namespace Gateway.Benchmarks;

/// <summary>
/// One whole request through the host, in process: the gateway (as <c>Program</c> builds it, embedded store,
/// a cached key on a kept-alive connection) against plain YARP with the same route, both on ASP.NET Core's
/// test server and both forwarding to the same in-memory upstream that answers 200 "ok". Everything but the
/// sockets and the kernel is in the measurement, so the difference of the two is what the gateway adds to
/// a request in managed code, without the noise of a load run on shared cores.
/// </summary>
[MemoryDiagnoser]
public class PipelineBenchmarks
{
    private readonly string _directory = Path.Combine(Path.GetTempPath(), "gw-bench-" + Guid.NewGuid().ToString("N"));
    private WebApplication _gateway = null!;
    private WebApplication _plain = null!;
    private TestServer _gatewayServer = null!;
    private TestServer _plainServer = null!;
    private string _authorization = null!;
    private string[] _authorizations = [];
    private int _next;

    // A kept-alive HTTP/1.1 client: Kestrel gives each connection its items, and the requests on it share them.
    private readonly ConnectionItems _connection = new();

    /// <summary>
    /// Which features the gateway runs with: "default" (usage and the request log, as shipped), "off" (neither),
    /// "log-off" and "usage-off" (default without that one; for the loop, not among the benchmark's parameters),
    /// "signing" and "access-log" (default plus that one: signed identity headers, or an access log sampling one
    /// request in a hundred to a console that writes nowhere). The load test's per-feature rows, without its noise.
    /// </summary>
    [Params("off", "default", "signing", "access-log")]
    public string Features { get; set; } = "default";

    /// <summary>
    /// Keys the gateway requests take in turn (one per request, over a hundred per organization), all cached after
    /// the first pass: what many keys in use add to a request in process, without the load run's kernel and wrk.
    /// 1 (the benchmarks): the organization's default key, found by the connection's memo.
    /// </summary>
    public int KeyCount { get; set; } = 1;

    [GlobalSetup]
    public void Setup()
    {
        Directory.CreateDirectory(_directory);
        _gateway = BuildGateway();
        _gateway.StartAsync().GetAwaiter().GetResult();
        _gatewayServer = (TestServer)_gateway.Services.GetRequiredService<Microsoft.AspNetCore.Hosting.Server.IServer>();
        var (_, key) = _gateway.Services.GetRequiredService<KeyManager>().CreateOrganizationAsync("bench", "Bench", "bench", CancellationToken.None).GetAwaiter().GetResult();
        _authorization = "Bearer " + key.Plaintext;
        if (KeyCount > 1)
        {
            var store = (IKeyImportStore)_gateway.Services.GetRequiredService<IGatewayStore>();
            _authorizations = KeyCacheMeasurement.SeedAsync(store, KeyCount).GetAwaiter().GetResult().Select(k => "Bearer " + k).ToArray();
        }

        _plain = BuildPlain();
        _plain.StartAsync().GetAwaiter().GetResult();
        _plainServer = (TestServer)_plain.Services.GetRequiredService<Microsoft.AspNetCore.Hosting.Server.IServer>();

        Expect(Gateway().GetAwaiter().GetResult(), "gateway");
        Expect(Plain().GetAwaiter().GetResult(), "plain YARP");
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        // Stopped first, as the host stops on shutdown: disposing alone leaves the background writers running
        // against the store's writer, which the container has already closed.
        _gateway.StopAsync().GetAwaiter().GetResult();
        _gateway.DisposeAsync().AsTask().GetAwaiter().GetResult();
        _plain.DisposeAsync().AsTask().GetAwaiter().GetResult();
        Directory.Delete(_directory, recursive: true);
    }

    [Benchmark(Baseline = true)]
    public Task<HttpContext> Plain() => _plainServer.SendAsync(static context =>
    {
        context.Request.Protocol = HttpProtocol.Http11;
        context.Request.Method = HttpMethods.Get;
        context.Request.Path = "/bench/hello";
    });

    [Benchmark]
    public Task<HttpContext> Gateway() => _gatewayServer.SendAsync(context =>
    {
        // HTTP/1.1 with connection items, as Kestrel serves a kept-alive client (the key memo applies).
        context.Request.Protocol = HttpProtocol.Http11;
        context.Request.Method = HttpMethods.Get;
        context.Request.Path = "/bench/hello";
        context.Request.Headers.Authorization = _authorizations.Length == 0 ? _authorization : _authorizations[_next++ % _authorizations.Length];
        context.Features.Set<IConnectionItemsFeature>(_connection);
    });

    private static void Expect(HttpContext context, string name)
    {
        if (context.Response.StatusCode != StatusCodes.Status200OK)
        {
            throw new InvalidOperationException($"{name} answered {context.Response.StatusCode}, not 200");
        }
    }

    private WebApplication BuildGateway()
    {
        var builder = WebApplication.CreateBuilder(new WebApplicationOptions { ContentRootPath = _directory, Args = [] });
        builder.WebHost.UseTestServer();
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Gateway:Store:Path"] = Path.Combine(_directory, "gateway.db"),
            ["Gateway:Demo:Enabled"] = "false",
            ["Gateway:Admin:Token"] = "gw-bench-7Kq2Xv9Lm4Rt8Zp3Wn6Yb1Hc5Jd",
            ["Gateway:RateLimits:Workspace:PermitLimit"] = "1000000000",
            ["Gateway:RateLimits:Ip:PermitLimit"] = "1000000000",
            ["Logging:LogLevel:Default"] = "Warning",
            ["Gateway:Cache:MaxEntries"] = Math.Max(100_000, 2 * KeyCount).ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["Gateway:Cache:FreshFor"] = "01:00:00",
            ["Gateway:Cache:StaleFor"] = "01:00:00",
            ["ReverseProxy:Routes:bench:ClusterId"] = "bench",
            ["ReverseProxy:Routes:bench:Match:Path"] = "/bench/{**rest}",
            ["ReverseProxy:Clusters:bench:Destinations:d1:Address"] = "http://upstream.invalid/",
        });
        builder.Configuration.AddInMemoryCollection(Features switch
        {
            "default" => [],
            "off" => new Dictionary<string, string?> { ["Gateway:Usage:Enabled"] = "false", ["Gateway:RequestLog:Enabled"] = "false" },
            "log-off" => new Dictionary<string, string?> { ["Gateway:RequestLog:Enabled"] = "false" },
            "usage-off" => new Dictionary<string, string?> { ["Gateway:Usage:Enabled"] = "false" },
            "signing" => new Dictionary<string, string?> { ["Gateway:Signing:Secrets:0:Id"] = "bench", ["Gateway:Signing:Secrets:0:Secret"] = "bench-signing-secret-0123456789abcdefghijklmnop" },
            "access-log" => new Dictionary<string, string?>
            {
                ["Gateway:AccessLog:Enabled"] = "true", ["Gateway:AccessLog:SampleRate"] = "0.01", ["Gateway:AccessLog:Format"] = "json",
                ["Logging:LogLevel:Gateway.AccessLog"] = "Information",
            },
            _ => throw new InvalidOperationException($"unknown Features value {Features}"),
        });
        builder.AddGateway();
        builder.Services.AddSingleton<IForwarderHttpClientFactory, InMemoryUpstream>();
        var app = builder.Build();
        app.UseGateway();
        return app;
    }

    private static WebApplication BuildPlain()
    {
        // As bench/BenchHost's "proxy" mode, which the load test compares the gateway with.
        var builder = WebApplication.CreateEmptyBuilder(new WebApplicationOptions());
        builder.WebHost.UseTestServer();
        builder.Services.AddRoutingCore();
        builder.Services.AddReverseProxy().LoadFromMemory(
            [new RouteConfig { RouteId = "all", ClusterId = "upstream", Match = new RouteMatch { Path = "/{**rest}" } }],
            [new ClusterConfig { ClusterId = "upstream", Destinations = new Dictionary<string, DestinationConfig> { ["d1"] = new() { Address = "http://upstream.invalid/" } } }]);
        builder.Services.AddSingleton<IForwarderHttpClientFactory, InMemoryUpstream>();
        var app = builder.Build();
        app.UseRouting();
        app.MapReverseProxy();
        return app;
    }

    private sealed class ConnectionItems : IConnectionItemsFeature
    {
        public IDictionary<object, object?> Items { get; set; } = new Dictionary<object, object?>();
    }

    /// <summary>An upstream that answers every request with 200 "ok", as bench/BenchHost's upstream does.</summary>
    private sealed class InMemoryUpstream : IForwarderHttpClientFactory
    {
        public HttpMessageInvoker CreateClient(ForwarderHttpClientContext context) => new(new Handler());

        private sealed class Handler : HttpMessageHandler
        {
            private static readonly byte[] Body = "ok"u8.ToArray();

            protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
            {
                var content = new ByteArrayContent(Body);
                content.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("text/plain");
                return Task.FromResult(new HttpResponseMessage(System.Net.HttpStatusCode.OK) { Content = content, RequestMessage = request });
            }
        }
    }
}
