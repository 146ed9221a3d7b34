using System.Net;
using System.Text.Json.Nodes;
using Gateway.Tests.Common;

namespace Gateway.Tests.EndToEnd;

/// <summary>The proxy's checks (docs/proxy.md) through a real gateway and a WireMock upstream, on each store.</summary>
[TestFixtureSource(typeof(StoreKinds), nameof(StoreKinds.All))]
public sealed class ProxyAuthenticationTests(StoreKind store) : GatewayFixture(store)
{
    private string _liveKey = null!;
    private string _liveKeyId = null!;

    protected override Dictionary<string, string?> Settings(string upstream) => GatewayHost.Routes(
        upstream,
        ("open", "/api/{**rest}", []),
        ("scoped", "/scoped/{**rest}", [("RequiredScopes", "read write")]),
        ("staging", "/staging/{**rest}", [("Environment", "staging")]),
        ("public", "/public/{**rest}", [("Anonymous", "true")]));

    [OneTimeSetUp]
    public async Task StartAsync()
    {
        await Host.CreateOrgAsync("acme");
        var key = await Host.CreateKeyAsync("acme", new { name = "server_prod", scopes = new[] { "read" }, customerId = "cust_42" });
        _liveKey = key.Str("key");
        _liveKeyId = key.Str("id");
    }

    [SetUp]
    public void ResetUpstream() => Upstream.Reset();

    [Test]
    public async Task Invoke_ValidKey_StampsIdentityAndDropsSpoofedHeadersAndAuthorization()
    {
        using var response = await Host.CallAsync("/api/orders?x=1", _liveKey, r =>
        {
            r.Headers.Add("X-Org-Id", "evil");
            r.Headers.Add("X-Key-Id", "key_spoofed");
            r.Headers.Add("X-Key-Scopes", "*");
            r.Headers.Add("X-Key-Anything", "x");
            r.Headers.Add("X-Customer-Id", "cust_other");
            r.Headers.Add("X-Request-Id", "req-123");
        });

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        Assert.That(response.Headers.GetValues("X-Request-Id"), Is.EqualTo(new[] { "req-123" }));
        var headers = Upstream.SingleRequestHeaders();
        Assert.Multiple(() =>
        {
            Assert.That(headers["X-Org-Id"], Is.EqualTo("acme"));
            Assert.That(headers["X-Key-Id"], Is.EqualTo(_liveKeyId));
            Assert.That(headers["X-Key-Name"], Is.EqualTo("server_prod"));
            Assert.That(headers["X-Key-Scopes"], Is.EqualTo("read"));
            Assert.That(headers["X-Key-Environment"], Is.EqualTo("production"));
            Assert.That(headers["X-Customer-Id"], Is.EqualTo("cust_42"));
            Assert.That(headers["X-Request-Id"], Is.EqualTo("req-123"));
            Assert.That(headers.ContainsKey("Authorization"), Is.False);
            Assert.That(headers.ContainsKey("X-Key-Anything"), Is.False);
        });
    }

    [Test]
    public async Task Invoke_NoRequestId_GeneratesOneAndForwardsIt()
    {
        using var response = await Host.CallAsync("/api/x", _liveKey);

        var id = response.Headers.GetValues("X-Request-Id").Single();
        Assert.That(id, Is.Not.Empty);
        Assert.That(Upstream.SingleRequestHeaders()["X-Request-Id"], Is.EqualTo(id));
    }

    [Test]
    public async Task Invoke_KeyWithoutCustomer_SendsNoCustomerHeader()
    {
        var key = await Host.CreateKeyAsync("acme", new { name = "no_customer" });

        using var response = await Host.CallAsync("/api/x", key.Str("key"), r => r.Headers.Add("X-Customer-Id", "spoof"));

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        var headers = Upstream.SingleRequestHeaders();
        Assert.That(headers.ContainsKey("X-Customer-Id"), Is.False);
        Assert.That(headers["X-Key-Scopes"], Is.EqualTo("*"));
    }

    [Test]
    public async Task Invoke_NoAuthorization_Returns401MissingKeyWithBearerChallenge()
    {
        using var response = await Host.CallAsync("/api/x", null);

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.Unauthorized));
        Assert.That(response.Headers.WwwAuthenticate.ToString(), Is.EqualTo("Bearer"));
        var problem = await GatewayHost.ProblemAsync(response);
        Assert.That(problem.Str("code"), Is.EqualTo("missing_key"));
        Assert.That(problem["status"]!.GetValue<int>(), Is.EqualTo(401));
        Assert.That(Upstream.Received, Is.Empty);
    }

    [Test]
    public async Task Invoke_UnknownWellFormedKey_Returns401InvalidKey()
    {
        var unknown = Gateway.Keys.ApiKeyFormat.Generate("gw", "production");

        using var response = await Host.CallAsync("/api/x", unknown);

        await AssertRejected(response, HttpStatusCode.Unauthorized, "invalid_key", "Bearer error=\"invalid_token\"");
    }

    [Test]
    public async Task Invoke_StagingKeyOnProductionRoute_Returns401WrongEnvironment()
    {
        var staging = await Host.CreateKeyAsync("acme", new { name = "stage_key", environment = "staging" });

        using var response = await Host.CallAsync("/api/x", staging.Str("key"));

        await AssertRejected(response, HttpStatusCode.Unauthorized, "wrong_environment", "Bearer error=\"invalid_token\"");
    }

    [Test]
    public async Task Invoke_RouteEnvironmentOverride_AcceptsStagingRejectsProduction()
    {
        var staging = await Host.CreateKeyAsync("acme", new { name = "stage_key2", environment = "staging" });

        using var ok = await Host.CallAsync("/staging/x", staging.Str("key"));
        Assert.That(ok.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        Assert.That(Upstream.SingleRequestHeaders()["X-Key-Environment"], Is.EqualTo("staging"));
        Upstream.Reset();

        using var wrong = await Host.CallAsync("/staging/x", _liveKey);
        await AssertRejected(wrong, HttpStatusCode.Unauthorized, "wrong_environment", "Bearer error=\"invalid_token\"");
    }

    [Test]
    public async Task Invoke_MissingScope_Returns403InsufficientScopeNamingScopes()
    {
        using var response = await Host.CallAsync("/scoped/x", _liveKey);

        await AssertRejected(response, HttpStatusCode.Forbidden, "insufficient_scope", "Bearer error=\"insufficient_scope\", scope=\"read write\"");
    }

    [Test]
    public async Task Invoke_AllScopesOrWildcard_IsForwarded()
    {
        var both = await Host.CreateKeyAsync("acme", new { name = "rw", scopes = new[] { "read", "write" } });
        var wildcard = await Host.CreateKeyAsync("acme", new { name = "full", scopes = new[] { "*" } });

        using var r1 = await Host.CallAsync("/scoped/x", both.Str("key"));
        using var r2 = await Host.CallAsync("/scoped/x", wildcard.Str("key"));

        Assert.That(r1.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        Assert.That(r2.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        Assert.That(Upstream.Received, Has.Count.EqualTo(2));
    }

    [Test]
    public async Task Invoke_AnonymousRoute_ForwardsWithoutKeyButStripsIdentityHeaders()
    {
        using var response = await Host.CallAsync("/public/x", null, r =>
        {
            r.Headers.Add("X-Org-Id", "evil");
            r.Headers.Add("X-Key-Id", "spoof");
            r.Headers.Add("X-Customer-Id", "spoof");
        });

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        var headers = Upstream.SingleRequestHeaders();
        Assert.That(headers.Keys.Where(k => k.StartsWith("X-Key-", StringComparison.OrdinalIgnoreCase) || k is "X-Org-Id" or "X-Customer-Id"), Is.Empty);
    }

    [Test]
    public async Task Invoke_NoMatchingRoute_Returns404NoRoute()
    {
        using var response = await Host.CallAsync("/nowhere", _liveKey);

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.NotFound));
        Assert.That((await GatewayHost.ProblemAsync(response)).Str("code"), Is.EqualTo("no_route"));
        Assert.That(response.Headers.Contains("X-Request-Id"), Is.True);
    }

    [Test]
    public async Task Invoke_AdminPathOnProxyListener_IsNotTheAdminApi()
    {
        using var response = await Host.Proxy.SendAsync(new HttpRequestMessage(HttpMethod.Get, "/admin/orgs")
        {
            Headers = { { "Authorization", "Bearer " + GatewayHost.AdminToken } },
        });

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.NotFound));
        Assert.That((await GatewayHost.ProblemAsync(response)).Str("code"), Is.EqualTo("no_route"));
    }

    [TestCase("/healthz")]
    [TestCase("/readyz")]
    [TestCase("/metrics")]
    public async Task Operations_OnProxyListener_Return404(string path)
    {
        using var response = await Host.Proxy.GetAsync(path);

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.NotFound));
    }

    private async Task AssertRejected(HttpResponseMessage response, HttpStatusCode status, string code, string challenge)
    {
        Assert.That(response.StatusCode, Is.EqualTo(status));
        Assert.That(response.Headers.WwwAuthenticate.ToString(), Is.EqualTo(challenge));
        JsonObject problem = await GatewayHost.ProblemAsync(response);
        Assert.That(problem.Str("code"), Is.EqualTo(code));
        Assert.That(Upstream.Received, Is.Empty, "a rejected request must not reach the upstream");
    }
}
