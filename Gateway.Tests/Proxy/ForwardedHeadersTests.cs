using System.Net;
using Gateway.Tests.Common;

namespace Gateway.Tests.Proxy;

/// <summary>What a real upstream receives: never the client's key, never a client copy of a stamped header.</summary>
public sealed class ForwardedHeadersTests : UpstreamFixture
{
    private static readonly string[] Spoofed = ["X_Org_Id", "x_key_scopes", "X-Key_Id", "X_CUSTOMER_ID", "x-org_id"];


    [SetUp]
    public void ResetUpstream() => Upstream.Reset();

    [Test]
    public async Task AnonymousRoute_AuthorizationSent_NotForwarded()
    {
        await using var gateway = await StartAsync();

        using var response = await gateway.CallAsync("/public/x", "gw_live_anything");

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        Assert.That(Upstream.SingleRequestHeaders().ContainsKey("Authorization"), Is.False);
    }

    [TestCase("/public/x")]
    [TestCase("/api/x")]
    public async Task UnderscoreSpellingsOfStampedHeaders_NeverForwarded(string path)
    {
        await using var gateway = await StartAsync();
        await gateway.CreateOrgAsync("acme");
        var key = (await gateway.CreateKeyAsync("acme", new { name = "k" })).Str("key");

        using var response = await gateway.CallAsync(path, path.StartsWith("/api", StringComparison.Ordinal) ? key : null, r =>
        {
            foreach (var name in Spoofed)
            {
                r.Headers.TryAddWithoutValidation(name, "evil");
            }

            r.Headers.TryAddWithoutValidation("X_Trace_Note", "kept");
        });

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        var headers = Upstream.SingleRequestHeaders();
        Assert.That(headers.Keys.Where(k => k.Replace('_', '-').StartsWith("X-Key-", StringComparison.OrdinalIgnoreCase) && k.Contains('_')), Is.Empty);
        Assert.That(headers.Keys.Where(k => k.Contains('_') && k.Replace('_', '-').ToUpperInvariant() is "X-ORG-ID" or "X-CUSTOMER-ID"), Is.Empty);
        Assert.That(headers.Values, Has.No.Member("evil"));
        Assert.That(headers["X_Trace_Note"], Is.EqualTo("kept"), "other underscore names pass unless dropping them is configured");
        Assert.That(headers.ContainsKey("Authorization"), Is.False);
    }

    [Test]
    public async Task DropHeadersWithUnderscores_Enabled_DropsEveryUnderscoreName()
    {
        await using var gateway = await StartAsync(("Gateway:DropHeadersWithUnderscores", "true"));

        using var response = await gateway.CallAsync("/public/x", null, r =>
        {
            r.Headers.TryAddWithoutValidation("X_Trace_Note", "dropped");
            r.Headers.TryAddWithoutValidation("X-Trace-Note", "kept");
        });

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        var headers = Upstream.SingleRequestHeaders();
        Assert.That(headers.Keys.Where(k => k.Contains('_')), Is.Empty);
        Assert.That(headers["X-Trace-Note"], Is.EqualTo("kept"));
    }

    [Test]
    public async Task RouteTransformSetsIdentityHeaders_UpstreamSeesOnlyTheGatewaysValues()
    {
        await using var gateway = await StartAsync(
            ("ReverseProxy:Routes:api:Transforms:0:RequestHeader", "X-Org-Id"),
            ("ReverseProxy:Routes:api:Transforms:0:Set", "from-route"),
            ("ReverseProxy:Routes:api:Transforms:1:RequestHeader", "X-Request-Id"),
            ("ReverseProxy:Routes:api:Transforms:1:Append", "from-route"));
        await gateway.CreateOrgAsync("acme");
        var key = (await gateway.CreateKeyAsync("acme", new { name = "k" })).Str("key");

        using var response = await gateway.CallAsync("/api/x", key);

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        var headers = Upstream.SingleRequestHeaders();
        Assert.That(headers["X-Org-Id"], Is.EqualTo("acme"), "set after the route's transforms, so the gateway's value wins");
        Assert.That(headers["X-Request-Id"], Is.EqualTo(response.Headers.GetValues("X-Request-Id").Single()));
    }

    [Test]
    public async Task RouteTransformAddsIdentityHeadersTheGatewayDoesNotSet_UpstreamNeverSeesThem()
    {
        await using var gateway = await StartAsync(
            ("ReverseProxy:Routes:api:Transforms:0:RequestHeader", "X-Customer-Id"),
            ("ReverseProxy:Routes:api:Transforms:0:Set", "from-route"),
            ("ReverseProxy:Routes:public:Transforms:0:RequestHeader", "X-Org-Id"),
            ("ReverseProxy:Routes:public:Transforms:0:Set", "from-route"),
            ("ReverseProxy:Routes:public:Transforms:1:RequestHeader", "X-Key-Scopes"),
            ("ReverseProxy:Routes:public:Transforms:1:Set", "admin"));
        await gateway.CreateOrgAsync("acme");
        var key = (await gateway.CreateKeyAsync("acme", new { name = "no_customer" })).Str("key");

        using var keyed = await gateway.CallAsync("/api/x", key);
        Assert.That(keyed.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        var headers = Upstream.SingleRequestHeaders();
        Assert.That(headers["X-Org-Id"], Is.EqualTo("acme"));
        Assert.That(headers.ContainsKey("X-Customer-Id"), Is.False, "the key has no customer");

        Upstream.Reset();
        using var anonymous = await gateway.CallAsync("/public/x", null);
        Assert.That(anonymous.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        headers = Upstream.SingleRequestHeaders();
        Assert.That(headers.Keys.Where(k => k.StartsWith("X-Key-", StringComparison.OrdinalIgnoreCase) || k.Equals("X-Org-Id", StringComparison.OrdinalIgnoreCase)), Is.Empty);
    }

    [Test]
    public async Task RouteDoesNotCopyRequestHeaders_IdentityAndRequestIdStillForwarded()
    {
        await using var gateway = await StartAsync(("ReverseProxy:Routes:api:Transforms:0:RequestHeadersCopy", "false"));
        await gateway.CreateOrgAsync("acme");
        var key = (await gateway.CreateKeyAsync("acme", new { name = "k" })).Str("key");

        using var response = await gateway.CallAsync("/api/x", key, r => r.Headers.Add("X-Request-Id", "client-id-1"));

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        var headers = Upstream.SingleRequestHeaders();
        Assert.Multiple(() =>
        {
            Assert.That(headers["X-Org-Id"], Is.EqualTo("acme"));
            Assert.That(headers["X-Key-Name"], Is.EqualTo("k"));
            Assert.That(headers["X-Key-Environment"], Is.EqualTo("production"));
            Assert.That(headers["X-Request-Id"], Is.EqualTo("client-id-1"));
            Assert.That(headers.ContainsKey("Authorization"), Is.False);
        });
    }

    [TestCase("has space")]
    [TestCase("a/b")]
    [TestCase("50%25")]
    [TestCase("q?x")]
    [TestCase("<script>")]
    [TestCase("..")]
    public async Task InvalidClientRequestId_UpstreamGetsTheGeneratedOneOnly(string id)
    {
        // Besides what is not visible ASCII, what no URL path segment can carry as it is: the request log is read by id.
        await using var gateway = await StartAsync();

        using var response = await gateway.CallAsync("/public/x", null, r => r.Headers.TryAddWithoutValidation("X-Request-Id", id));

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        var generated = response.Headers.GetValues("X-Request-Id").Single();
        Assert.That(generated, Does.Match("^[0-9a-f]{32}$"));
        Assert.That(Upstream.SingleRequestHeaders()["X-Request-Id"], Is.EqualTo(generated));
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
