using Gateway.Tests.Common;

namespace Gateway.Tests.Proxy;

/// <summary>
/// A request target an upstream could read as another path than the one the gateway routed and authorized
/// (nginx merges '//', Tomcat and Spring drop ';' parameters and resolve "..;/") is refused with 400
/// <c>bad_path</c> before routing, or, with <c>Gateway:Paths:Normalize</c>, normalized before routing so
/// the path authorized is the path forwarded. Targets are written on a raw socket: HttpClient would
/// normalize several of them itself.
/// </summary>
public sealed class RequestTargetTests : RecordingGatewayFixture
{
    // '#' never belongs in a request target (a fragment stays with the client), yet Kestrel keeps it in the path and
    // the forwarder sends it on as %23 with everything after it as it came.
    private static readonly string[] Fragments =
    [
        "/raw/public/a#/..;/..;/admin/x",
        "/raw/public/a#//admin/x",
        "/raw/public/a#/..%3B/..%3B/admin/x",
        "/raw/public/a#;x",
        "/raw/public/a#\\..;\\admin",
        "/raw/x#/../../raw/admin/x",
        "/raw/public/x?q=1#/..;/admin",
        "/raw/public/x#",
        "http://localhost/raw/public/a#/..;/admin/x",
    ];

    private static readonly string[] Hostile =
    [
        "/raw//admin/x",
        "//raw/admin/x",
        "/raw/admin;x/y",
        "/raw/admin;/y",
        "/raw/admin%3Bx/y",
        "/raw/admin%3bx/y",
        "/raw/public/..;/admin/x",
        "/raw/public/../admin/x",
        "/raw/public/./x",
        "/raw/public/x/..",
        "/raw/public/x/.",
        "/raw/public/%2e%2e/admin/x",
        "/raw/public/%2E%2e;/admin/x",
        "/raw/public/.%2e/admin/x",
        "/raw/public/%2e/x",
        "/raw/admin%2Fx",
        "/raw/admin%2fx",
        "/raw/public%2F..%2Fadmin/x",
        "/raw/public/..%2Fadmin/x",
        "/raw/public/..%5Cadmin/x",
        "/raw/public/..%5cadmin/x",
        "/raw/public/..\\admin/x",
        "/raw/public/x;jsessionid=1",
        "/nowhere//x",
        "http://localhost/raw//admin/x",
        "http://localhost/raw/public/..;/admin/x",
        .. Fragments,
    ];

    private GatewayHost _normalizing = null!;
    private string _readKey = null!;
    private string _adminKey = null!;
    private string _normalizingReadKey = null!;
    private string _normalizingAdminKey = null!;

    /// <summary>The fixture's gateway refuses these targets (the default); a second one normalizes them.</summary>
    private GatewayHost Strict => Host;

    [OneTimeSetUp]
    public async Task StartNormalizingAsync()
    {
        var normalizing = Settings(Upstream.Url);
        normalizing["Gateway:Paths:Normalize"] = "true";
        _normalizing = await GatewayHost.StartAsync(normalizing);
        (_readKey, _adminKey) = await KeysAsync(Strict);
        (_normalizingReadKey, _normalizingAdminKey) = await KeysAsync(_normalizing);
    }

    [OneTimeTearDown]
    public async Task StopNormalizingAsync()
    {
        if (_normalizing is not null)
        {
            await _normalizing.DisposeAsync();
        }
    }

    [SetUp]
    public void ResetUpstream() => Upstream.Reset();

    [TestCaseSource(nameof(Hostile))]
    public async Task HostileTarget_ReadKey_Returns400BadPathAndUpstreamReceivesNothing(string target)
    {
        var response = await RawHttp.GetAsync(Strict.ProxyUrl, target, _readKey);

        Assert.That(response.Status, Is.EqualTo(400), response.Body);
        Assert.That(response.Code, Is.EqualTo("bad_path"));
        Assert.That(response.Headers.ContainsKey("X-Request-Id"), Is.True);
        Assert.That(Upstream.Received, Is.Empty);
    }

    [TestCaseSource(nameof(Hostile))]
    public async Task HostileTarget_NoKey_Returns400BadPathAndUpstreamReceivesNothing(string target)
    {
        var response = await RawHttp.GetAsync(Strict.ProxyUrl, target);

        Assert.That(response.Status, Is.EqualTo(400), response.Body);
        Assert.That(response.Code, Is.EqualTo("bad_path"));
        Assert.That(Upstream.Received, Is.Empty);
    }

    // A tunnel request, with an origin-form or an authority-form target: refused as the client's error, not
    // forwarded (the forwarder cannot send it) and not answered 502 as if the upstream were down.
    // (Kestrel itself refuses the authority form with a bare 400 before the gateway sees it.)
    [TestCase("/raw/public/x", "bad_request")]
    [TestCase("localhost:443", null)]
    public async Task Connect_Returns400AndUpstreamReceivesNothing(string target, string? code)
    {
        var response = await RawHttp.SendAsync(Strict.ProxyUrl, $"CONNECT {target} HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {_readKey}\r\nConnection: close\r\n\r\n");

        Assert.That(response.Status, Is.EqualTo(400), response.Body);
        Assert.That(response.Code, Is.EqualTo(code));
        Assert.That(Upstream.Received, Is.Empty);
    }

    [TestCase("/raw/public/file.json?next=..//admin;x%2F", "/raw/public/file.json?next=..//admin;x%2F")]
    [TestCase("/raw/a%20b/c.d/..e/...", "/raw/a%20b/c.d/..e/...")]
    [TestCase("/raw/x/", "/raw/x/")]
    [TestCase("/raw/100%25/x", "/raw/100%25/x")]
    [TestCase("/raw/%252F", "/raw/%252F")]
    public async Task CleanTarget_ReadKey_ForwardedAsSent(string target, string forwarded)
    {
        var response = await RawHttp.GetAsync(Strict.ProxyUrl, target, _readKey);

        Assert.That(response.Status, Is.EqualTo(200), response.Body);
        Assert.That(Upstream.Only().RawTarget, Is.EqualTo(forwarded));
    }

    [TestCase("/raw//admin/x")]
    [TestCase("/raw/admin;x/y")]
    [TestCase("/raw/admin%3Bx/y")]
    [TestCase("/raw/public/../admin/x")]
    [TestCase("/raw/public/%2e%2e/admin/x")]
    [TestCase("/raw/public%2F..%2Fadmin/x")]
    [TestCase("/raw/public/..%5Cadmin/x")]
    public async Task Normalize_AdminPathInDisguise_AuthorizedAsTheAdminPath(string target)
    {
        var response = await RawHttp.GetAsync(_normalizing.ProxyUrl, target, _normalizingReadKey);

        Assert.That(response.Status, Is.EqualTo(403), response.Body);
        Assert.That(response.Code, Is.EqualTo("insufficient_scope"));
        Assert.That(Upstream.Received, Is.Empty);
    }

    [TestCase("/raw/public/..;/admin/x")]
    [TestCase("/raw/public/%2e%2e/admin/x")]
    [TestCase("/raw/public/x/..%2F..%2Fadmin/x")]
    public async Task Normalize_AnonymousPrefixThenDotDot_NeedsAKey(string target)
    {
        var response = await RawHttp.GetAsync(_normalizing.ProxyUrl, target);

        Assert.That(response.Status, Is.EqualTo(401), response.Body);
        Assert.That(response.Code, Is.EqualTo("missing_key"));
        Assert.That(Upstream.Received, Is.Empty);
    }

    [TestCase("/raw//admin/x", "/raw/admin/x")]
    [TestCase("/raw/admin;x/y", "/raw/admin/y")]
    [TestCase("/raw/admin%3Bx/y?q=1", "/raw/admin/y?q=1")]
    [TestCase("/raw/public/..;/admin/x", "/raw/admin/x")]
    [TestCase("/raw/public/%2E%2e/admin/./x/", "/raw/admin/x/")]
    [TestCase("/raw/admin/a%2Fb%5Cc", "/raw/admin/a/b/c")]
    [TestCase("/raw/admin/a\\b", "/raw/admin/a/b")]
    [TestCase("/raw/admin/x/%20y/..", "/raw/admin/x/")]
    [TestCase("/../../raw/admin/x", "/raw/admin/x")]
    [TestCase("http://localhost/raw//admin/x", "/raw/admin/x")]
    public async Task Normalize_AdminKey_ForwardsTheNormalizedPath(string target, string forwarded)
    {
        var response = await RawHttp.GetAsync(_normalizing.ProxyUrl, target, _normalizingAdminKey);

        Assert.That(response.Status, Is.EqualTo(200), response.Body);
        Assert.That(Upstream.Only().RawTarget, Is.EqualTo(forwarded));
    }

    [TestCaseSource(nameof(Fragments))]
    public async Task Normalize_TargetWithAFragment_Returns400BadPathAndUpstreamReceivesNothing(string target)
    {
        var response = await RawHttp.GetAsync(_normalizing.ProxyUrl, target, _normalizingAdminKey);

        Assert.That(response.Status, Is.EqualTo(400), response.Body);
        Assert.That(response.Code, Is.EqualTo("bad_path"));
        Assert.That(Upstream.Received, Is.Empty);
    }

    [Test]
    public async Task Normalize_DisguisedUnknownPath_Returns404NoRoute()
    {
        var response = await RawHttp.GetAsync(_normalizing.ProxyUrl, "/raw/../nowhere//x", _normalizingReadKey);

        Assert.That(response.Status, Is.EqualTo(404), response.Body);
        Assert.That(response.Code, Is.EqualTo("no_route"));
    }

    protected override Dictionary<string, string?> Settings(string upstream) => GatewayHost.Routes(
        upstream,
        ("raw-admin", "/raw/admin/{**rest}", [("RequiredScopes", "admin")]),
        ("raw-public", "/raw/public/{**rest}", [("Anonymous", "true")]),
        ("raw", "/raw/{**rest}", [("RequiredScopes", "read")]));

    private static async Task<(string Read, string Admin)> KeysAsync(GatewayHost gateway)
    {
        await gateway.CreateOrgAsync("acme");
        var read = (await gateway.CreateKeyAsync("acme", new { name = "reader", scopes = new[] { "read" } })).Str("key");
        var admin = (await gateway.CreateKeyAsync("acme", new { name = "admin", scopes = new[] { "read", "admin" } })).Str("key");
        return (read, admin);
    }
}
