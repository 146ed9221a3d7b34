using System.Net;
using Gateway.Hosting;
using Gateway.Tests.Common;

namespace Gateway.Tests.Proxy;

/// <summary>
/// Headers upstream frameworks take on trust (client address, URL rewrite, method override) never reach an
/// upstream from a client, on keyed and anonymous routes, in any spelling; operators add names with
/// <c>Gateway:StripHeaders</c>; a route's own transform may still set them.
/// </summary>
public sealed class TrustedHeaderTests : UpstreamFixture
{
    private static readonly string[] Trusted =
    [
        "X-Real-IP", "True-Client-IP", "CF-Connecting-IP", "X-Original-URL", "X-Rewrite-URL",
        "X-HTTP-Method-Override", "X-HTTP-Method", "X-Method-Override",
        "X-Client-IP", "X-Cluster-Client-IP", "X-Original-Host", "X-Host", "X-Forwarded-Port",
        "X-Forwarded-Scheme", "X-Forwarded-Ssl", "X-Url-Scheme", "Front-End-Https", "X-Forwarded-Server", "X-Original-Forwarded-For",
    ];

    private static readonly string[] Respelled = ["x-real-ip", "X_REAL_IP", "true_client_ip", "Cf-Connecting_Ip", "x_original_url", "X-REWRITE-URL", "x_http_method_override", "X_Http_Method", "x-method_override", "x_client_ip", "X-CLUSTER_CLIENT-IP", "x_original_host", "X_HOST", "x_forwarded_port", "x_forwarded_scheme", "X-FORWARDED_SSL", "x_url_scheme", "front_end_https", "X_Forwarded_Server", "x-original_forwarded-for"];

    [SetUp]
    public void ResetUpstream() => Upstream.Reset();

    [TestCase("/public/x")]
    [TestCase("/api/x")]
    public async Task TrustedHeaders_AnySpelling_NeverForwarded(string path)
    {
        await using var gateway = await StartAsync();
        await gateway.CreateOrgAsync("acme");
        var key = (await gateway.CreateKeyAsync("acme", new { name = "k" })).Str("key");

        foreach (var names in new[] { Trusted, Respelled })
        {
            Upstream.Reset();
            using var response = await gateway.CallAsync(path, path.StartsWith("/api", StringComparison.Ordinal) ? key : null, r =>
            {
                foreach (var name in names)
                {
                    r.Headers.TryAddWithoutValidation(name, "evil");
                }

                r.Headers.TryAddWithoutValidation("X-Trace-Note", "kept");
            });

            Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK));
            var headers = Upstream.SingleRequestHeaders();
            Assert.That(headers.Values, Has.No.Member("evil"), string.Join(", ", headers.Keys));
            Assert.That(headers["X-Trace-Note"], Is.EqualTo("kept"));
        }
    }

    // Browsers send a host's cookies to every port of it: a console signed in on the admin listener's host name would
    // hand its session to every upstream behind the proxy listener of the same name.
    [TestCase("/public/x", "a=1; gateway-admin-session=stolen; b=2", "a=1; b=2")]
    [TestCase("/api/x", "a=1; gateway-admin-session=stolen; b=2", "a=1; b=2")]
    [TestCase("/api/x", "__Host-gateway-admin-session=stolen", null)]
    [TestCase("/api/x", "gateway-admin-session=chunks-2; gateway-admin-sessionC1=stolen; GATEWAY-ADMIN-SESSIONC2=stolen; keep=1", "keep=1")]
    [TestCase("/api/x", "gateway-admin-sessionX=mine; gateway-admin-sessionC=mine", "gateway-admin-sessionX=mine; gateway-admin-sessionC=mine")]
    [TestCase("/api/x", "plain=1", "plain=1")]
    public async Task AdminSessionCookie_NeverForwarded_OtherCookiesKept(string path, string cookie, string? forwarded)
    {
        await using var gateway = await StartAsync();
        await gateway.CreateOrgAsync("acme");
        var key = (await gateway.CreateKeyAsync("acme", new { name = "k" })).Str("key");

        using var response = await gateway.CallAsync(path, path.StartsWith("/api", StringComparison.Ordinal) ? key : null,
            r => r.Headers.TryAddWithoutValidation("Cookie", cookie));

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        var headers = Upstream.SingleRequestHeaders();
        Assert.That(headers.TryGetValue("Cookie", out var sent) ? sent : null, Is.EqualTo(forwarded));
    }

    // YARP sets the dash spellings itself (replacing the client's); CGI, WSGI and Rack servers would read a client's
    // X_Forwarded_For as HTTP_X_FORWARDED_FOR all the same, beside or instead of the gateway's.
    [TestCase("/public/x")]
    [TestCase("/api/x")]
    public async Task ForwardedHeaders_UnderscoreSpellings_NeverForwarded_DashSpellingsAreTheGatewaysOwn(string path)
    {
        await using var gateway = await StartAsync();
        await gateway.CreateOrgAsync("acme");
        var key = (await gateway.CreateKeyAsync("acme", new { name = "k" })).Str("key");

        using var response = await gateway.CallAsync(path, path.StartsWith("/api", StringComparison.Ordinal) ? key : null, r =>
        {
            foreach (var name in new[] { "X_Forwarded_For", "x_forwarded_host", "X_FORWARDED_PROTO", "X_Forwarded-Prefix", "X-Forwarded_For", "X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Proto" })
            {
                r.Headers.TryAddWithoutValidation(name, "evil");
            }
        });

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        var headers = Upstream.SingleRequestHeaders();
        Assert.That(headers.Values, Has.No.Member("evil"), string.Join(", ", headers.Select(h => $"{h.Key}: {h.Value}")));
        Assert.That(headers.Keys.Where(k => k.Contains('_', StringComparison.Ordinal)), Is.Empty);
        Assert.That(headers["X-Forwarded-For"], Is.EqualTo("127.0.0.1"));
    }

    // Behind a trusted proxy (a load balancer the operator listed) the upstream gets the chain that proxy sent with the
    // proxy appended, as nginx's $proxy_add_x_forwarded_for does, so it sees the real client; from any other peer the
    // client's X-Forwarded-For is replaced by the peer, so nobody picks the address an upstream believes.
    [TestCase("127.0.0.1/32", "198.51.100.7, 10.0.0.9, 127.0.0.1")]
    [TestCase("10.0.0.0/8", "127.0.0.1")]
    public async Task XForwardedFor_TrustedPeerChainKeptAndAppended_OtherPeersReplaced(string trusted, string expected)
    {
        await using var gateway = await StartAsync(("Gateway:TrustedProxies:0", trusted));

        using var response = await gateway.CallAsync("/public/x", null, r => r.Headers.TryAddWithoutValidation("X-Forwarded-For", "198.51.100.7, 10.0.0.9"));

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        Assert.That(Upstream.SingleRequestHeaders()["X-Forwarded-For"], Is.EqualTo(expected));
    }

    [Test]
    public async Task StripHeaders_OperatorNames_NeverForwardedInAnySpelling()
    {
        await using var gateway = await StartAsync(("Gateway:StripHeaders:0", "X-Tenant-Override"), ("Gateway:StripHeaders:1", "X-Debug"));

        using var response = await gateway.CallAsync("/public/x", null, r =>
        {
            r.Headers.TryAddWithoutValidation("x_tenant_override", "evil");
            r.Headers.TryAddWithoutValidation("X-DEBUG", "evil");
            r.Headers.TryAddWithoutValidation("X-Debugger", "kept");
        });

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        var headers = Upstream.SingleRequestHeaders();
        Assert.That(headers.Values, Has.No.Member("evil"));
        Assert.That(headers["X-Debugger"], Is.EqualTo("kept"));
    }

    [Test]
    public async Task RouteTransformSetsTrustedHeader_UpstreamSeesTheRoutesValue()
    {
        await using var gateway = await StartAsync(
            ("ReverseProxy:Routes:public:Transforms:0:RequestHeader", "X-HTTP-Method-Override"),
            ("ReverseProxy:Routes:public:Transforms:0:Set", "from-route"));

        using var response = await gateway.CallAsync("/public/x", null, r => r.Headers.TryAddWithoutValidation("X-HTTP-Method-Override", "DELETE"));

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        Assert.That(Upstream.SingleRequestHeaders()["X-HTTP-Method-Override"], Is.EqualTo("from-route"));
    }

    [TestCase("")]
    [TestCase("X Real")]
    [TestCase("X-Bad:Name")]
    public void Start_InvalidStripHeader_FailsNamingIt(string name)
    {
        var ex = Assert.CatchAsync(async () => await StartAsync(("Gateway:StripHeaders:0", name)));

        Assert.That(string.Join(Environment.NewLine, StartupFailure.Describe(ex!)), Does.Contain("Gateway:StripHeaders:0"));
    }

    private Task<GatewayHost> StartAsync(params (string Key, string Value)[] settings)
    {
        var config = GatewayHost.Routes(Upstream.Url, ("api", "/api/{**rest}", []), ("public", "/public/{**rest}", [("Anonymous", "true")]));
        foreach (var (key, value) in settings)
        {
            config[key] = value;
        }

        return GatewayHost.StartAsync(config);
    }
}
