using System.Net;
using Gateway.Hosting;
using Gateway.Tests.Common;
using Gateway.Verification;
using Microsoft.Extensions.Time.Testing;

namespace Gateway.Tests.Signing;

/// <summary>X-Gateway-Signature on requests a real upstream receives, checked with Gateway.Verification.</summary>
public sealed class SignedIdentityHeadersTests : RecordingGatewayFixture
{
    private const string NewSecret = "new-secret-0123456789abcdefghijklmnopqrstuvwxyz";
    private const string OldSecret = "old-secret-0123456789abcdefghijklmnopqrstuvwxyz";

    private string _key = null!;

    protected override Dictionary<string, string?> Settings(string upstream)
    {
        var settings = GatewayHost.Routes(
            upstream,
            ("open", "/api/{**rest}", []),
            ("public", "/public/{**rest}", [("Anonymous", "true")]),
            ("prefixed", "/svc/{**rest}", []));
        settings["ReverseProxy:Routes:prefixed:Transforms:0:PathRemovePrefix"] = "/svc";
        settings["Gateway:Signing:Secrets:0:Id"] = "k2";
        settings["Gateway:Signing:Secrets:0:Secret"] = NewSecret;
        settings["Gateway:Signing:Secrets:1:Id"] = "k1";
        settings["Gateway:Signing:Secrets:1:Secret"] = OldSecret;
        return settings;
    }

    [OneTimeSetUp]
    public async Task CreateKeyAsync()
    {
        await Host.CreateOrgAsync("acme");
        _key = (await Host.CreateKeyAsync("acme", new { name = "signed", scopes = new[] { "read" }, customerId = "cust_7" })).Str("key");
    }

    [SetUp]
    public void Reset() => Upstream.Reset();

    private static GatewaySignatureVerifier Verifier(TimeProvider? time = null) =>
        new(new Dictionary<string, string> { ["k2"] = NewSecret, ["k1"] = OldSecret }, TimeSpan.FromMinutes(5), time);

    private async Task<ReceivedRequest> SendAsync(HttpMethod method, string path, string? key, Action<HttpRequestMessage>? configure = null)
    {
        using var request = new HttpRequestMessage(method, path);
        if (key is not null)
        {
            request.Headers.TryAddWithoutValidation("Authorization", "Bearer " + key);
        }

        configure?.Invoke(request);
        using var response = await Host.Proxy.SendAsync(request);
        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        return Upstream.Only();
    }

    private static GatewaySignatureResult Verify(GatewaySignatureVerifier verifier, ReceivedRequest r) =>
        verifier.Verify(r.Method, r.RawTarget, r.Headers);

    [Test]
    public async Task Proxy_KeyedRequest_CarriesSignatureThatVerifies()
    {
        var received = await SendAsync(HttpMethod.Post, "/api/orders/7?b=2&a=%20x", _key, r => r.Headers.Add("X-Request-Id", "req-sig-1"));

        var header = received.Header("X-Gateway-Signature");
        Assert.That(header, Does.Match("^t=[0-9]+,kid=k2,v1=[0-9a-f]{64}$"));
        Assert.That(received.RawTarget, Is.EqualTo("/api/orders/7?b=2&a=%20x"));
        Assert.That(received.Header("X-Customer-Id"), Is.EqualTo("cust_7"));
        Assert.That(Verify(Verifier(), received), Is.EqualTo(GatewaySignatureResult.Valid));

        // The canonical string is exactly the documented one.
        var t = long.Parse(header!.Split(',')[0][2..], System.Globalization.CultureInfo.InvariantCulture);
        var expected = string.Join('\n', t.ToString(System.Globalization.CultureInfo.InvariantCulture), "POST", "/api/orders/7?b=2&a=%20x",
            received.Header("X-Org-Id"), received.Header("X-Key-Id"), "signed", "read", "production", "cust_7", "req-sig-1");
        Assert.That(header, Does.EndWith(",v1=" + GatewaySignature.Compute(NewSecret, expected)));
    }

    [TestCase("X-Org-Id")]
    [TestCase("X-Key-Id")]
    [TestCase("X-Key-Name")]
    [TestCase("X-Key-Scopes")]
    [TestCase("X-Key-Environment")]
    [TestCase("X-Customer-Id")]
    [TestCase("X-Request-Id")]
    public async Task Verify_ChangedHeader_IsInvalid(string name)
    {
        var received = await SendAsync(HttpMethod.Get, "/api/x", _key);
        var headers = new Dictionary<string, string>(received.Headers, StringComparer.OrdinalIgnoreCase) { [name] = "tampered" };

        Assert.That(Verifier().Verify(received.Method, received.RawTarget, headers), Is.EqualTo(GatewaySignatureResult.Invalid));
    }

    [Test]
    public async Task Verify_RemovedCustomerHeader_IsInvalid()
    {
        var received = await SendAsync(HttpMethod.Get, "/api/x", _key);
        var headers = new Dictionary<string, string>(received.Headers, StringComparer.OrdinalIgnoreCase);
        headers.Remove("X-Customer-Id");

        Assert.That(Verifier().Verify(received.Method, received.RawTarget, headers), Is.EqualTo(GatewaySignatureResult.Invalid));
    }

    [Test]
    public async Task Verify_ChangedMethodOrPath_IsInvalid()
    {
        var received = await SendAsync(HttpMethod.Get, "/api/x?q=1", _key);
        var verifier = Verifier();

        Assert.That(verifier.Verify("DELETE", received.RawTarget, received.Headers), Is.EqualTo(GatewaySignatureResult.Invalid));
        Assert.That(verifier.Verify(received.Method, "/api/x?q=2", received.Headers), Is.EqualTo(GatewaySignatureResult.Invalid));
        Assert.That(verifier.Verify(received.Method, "/api/y?q=1", received.Headers), Is.EqualTo(GatewaySignatureResult.Invalid));
    }

    [Test]
    public async Task Verify_ReplayOlderThanTolerance_IsExpired()
    {
        var received = await SendAsync(HttpMethod.Get, "/api/x", _key);
        var signedAt = DateTimeOffset.FromUnixTimeSeconds(long.Parse(received.Header("X-Gateway-Signature")!.Split(',')[0][2..], System.Globalization.CultureInfo.InvariantCulture));

        var justInside = new FakeTimeProvider(signedAt + TimeSpan.FromMinutes(5));
        var tooLate = new FakeTimeProvider(signedAt + TimeSpan.FromMinutes(5) + TimeSpan.FromSeconds(1));

        Assert.That(Verify(Verifier(justInside), received), Is.EqualTo(GatewaySignatureResult.Valid));
        Assert.That(Verify(Verifier(tooLate), received), Is.EqualTo(GatewaySignatureResult.Expired));
    }

    [Test]
    public async Task Verify_UnknownKid_IsUnknownKey()
    {
        var received = await SendAsync(HttpMethod.Get, "/api/x", _key);
        var onlyOld = new GatewaySignatureVerifier(new Dictionary<string, string> { ["k1"] = NewSecret });
        var wrongSecret = new GatewaySignatureVerifier(new Dictionary<string, string> { ["k2"] = OldSecret });

        Assert.That(Verify(onlyOld, received), Is.EqualTo(GatewaySignatureResult.UnknownKey));
        Assert.That(Verify(wrongSecret, received), Is.EqualTo(GatewaySignatureResult.Invalid));
    }

    [TestCase("")]
    [TestCase("t=1,kid=k2")]
    [TestCase("t=abc,kid=k2,v1=00")]
    [TestCase("t=1,kid=k2,v1=zz")]
    [TestCase("t=1,t=2,kid=k2,v1=0000000000000000000000000000000000000000000000000000000000000000")]
    public void Verify_MalformedHeader_IsNotValid(string value)
    {
        var result = Verifier().Verify("GET", "/", [KeyValuePair.Create(GatewaySignature.HeaderName, value)]);

        Assert.That(result, Is.AnyOf(GatewaySignatureResult.Malformed, GatewaySignatureResult.Missing));
    }

    [Test]
    public async Task Proxy_ClientSentSignature_IsReplacedByTheGatewaysOwn()
    {
        var received = await SendAsync(HttpMethod.Get, "/api/x", _key, r =>
        {
            r.Headers.TryAddWithoutValidation("X-Gateway-Signature", "t=1,kid=k2,v1=" + new string('0', 64));
            r.Headers.TryAddWithoutValidation("x_gateway_signature", "forged");
        });

        Assert.That(received.Headers.Keys.Count(k => k.Replace('_', '-').Equals("X-Gateway-Signature", StringComparison.OrdinalIgnoreCase)), Is.EqualTo(1));
        Assert.That(received.Header("X-Gateway-Signature"), Does.Not.Contain(new string('0', 64)).And.Not.Contain(","+"forged"));
        Assert.That(Verify(Verifier(), received), Is.EqualTo(GatewaySignatureResult.Valid));
    }

    [Test]
    public async Task Proxy_AnonymousRoute_SignsEmptyIdentityLines()
    {
        var received = await SendAsync(HttpMethod.Get, "/public/info", key: null, r => r.Headers.Add("X-Org-Id", "spoofed"));

        Assert.That(received.Header("X-Org-Id"), Is.Null);
        Assert.That(Verify(Verifier(), received), Is.EqualTo(GatewaySignatureResult.Valid));
        var forged = new Dictionary<string, string>(received.Headers, StringComparer.OrdinalIgnoreCase) { ["X-Org-Id"] = "acme" };
        Assert.That(Verifier().Verify(received.Method, received.RawTarget, forged), Is.EqualTo(GatewaySignatureResult.Invalid));
    }

    [Test]
    public async Task Proxy_RouteTransformChangesPath_SignsThePathSentUpstream()
    {
        var received = await SendAsync(HttpMethod.Get, "/svc/items?id=3", _key);

        Assert.That(received.RawTarget, Is.EqualTo("/items?id=3"));
        Assert.That(Verify(Verifier(), received), Is.EqualTo(GatewaySignatureResult.Valid));
    }

    [Test]
    public async Task Proxy_SigningNotConfigured_SendsNoSignatureAndDropsTheClients()
    {
        await using var upstream = await RecordingUpstream.StartAsync();
        await using var gateway = await GatewayHost.StartAsync(GatewayHost.Routes(upstream.Url, ("public", "/public/{**rest}", [("Anonymous", "true")])));

        using var response = await gateway.CallAsync("/public/x", null, r => r.Headers.TryAddWithoutValidation("X-Gateway-Signature", "t=1,kid=k2,v1=forged"));

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        Assert.That(upstream.Only().Header("X-Gateway-Signature"), Is.Null);
    }

    [TestCase("Gateway:Signing:Secrets:0:Id", "has,comma", "Gateway:Signing:Secrets:0:Id")]
    [TestCase("Gateway:Signing:Secrets:0:Id", "", "Gateway:Signing:Secrets:0:Id")]
    [TestCase("Gateway:Signing:Secrets:0:Secret", "too-short", "Gateway:Signing:Secrets:0:Secret")]
    [TestCase("Gateway:Signing:Secrets:1:Id", "k1", "Gateway:Signing:Secrets:1:Id")]
    public void Start_InvalidSigningSecret_FailsNamingIt(string key, string value, string named)
    {
        var settings = new Dictionary<string, string?>
        {
            ["Gateway:Signing:Secrets:0:Id"] = "k1",
            ["Gateway:Signing:Secrets:0:Secret"] = OldSecret,
            ["Gateway:Signing:Secrets:1:Id"] = "k2",
            ["Gateway:Signing:Secrets:1:Secret"] = NewSecret,
            [key] = value,
        };

        var ex = Assert.CatchAsync(async () => await GatewayHost.StartAsync(settings));

        var message = string.Join(Environment.NewLine, StartupFailure.Describe(ex!));
        Assert.That(message, Does.Contain(named));
        Assert.That(message, Does.Not.Contain(OldSecret).And.Not.Contain(NewSecret));
    }
}
