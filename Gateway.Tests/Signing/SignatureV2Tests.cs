using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Gateway.Hosting;
using Gateway.Tests.Common;
using Gateway.Verification;
using Microsoft.Extensions.Time.Testing;

namespace Gateway.Tests.Signing;

/// <summary>
/// Version 2 of X-Gateway-Signature on requests a real upstream received through the gateway, with two clusters
/// sharing one upstream process: each cluster's key verifies only that cluster's requests, and the signature
/// binds host, cluster, nonce and body. Also the duplicated-header replay, for both versions.
/// </summary>
public sealed class SignatureV2Tests : RecordingGatewayFixture
{
    private const string Secret = "v2-secret-0123456789abcdefghijklmnopqrstuvwxyz";
    private const int MaxDigestBytes = 1024;

    private static readonly string OrdersKey = Convert.ToHexStringLower(GatewaySignature.DeriveClusterKey(Secret, "orders"));
    private static readonly string BillingKey = Convert.ToHexStringLower(GatewaySignature.DeriveClusterKey(Secret, "billing"));

    private string _key = null!;

    protected override Dictionary<string, string?> Settings(string upstream) => new()
    {
        ["ReverseProxy:Clusters:orders:Destinations:d1:Address"] = upstream,
        ["ReverseProxy:Clusters:billing:Destinations:d1:Address"] = upstream,
        ["ReverseProxy:Routes:orders:ClusterId"] = "orders",
        ["ReverseProxy:Routes:orders:Match:Path"] = "/orders/{**rest}",
        ["ReverseProxy:Routes:kept:ClusterId"] = "orders",
        ["ReverseProxy:Routes:kept:Match:Path"] = "/kept/{**rest}",
        ["ReverseProxy:Routes:kept:Transforms:0:RequestHeaderOriginalHost"] = "true",
        ["ReverseProxy:Routes:billing:ClusterId"] = "billing",
        ["ReverseProxy:Routes:billing:Match:Path"] = "/billing/{**rest}",
        ["Gateway:Signing:Secrets:0:Id"] = "k1",
        ["Gateway:Signing:Secrets:0:Secret"] = Secret,
        ["Gateway:Signing:Versions"] = "v1,v2",
        ["Gateway:Signing:MaxDigestBytes"] = MaxDigestBytes.ToString(CultureInfo.InvariantCulture),
    };

    [OneTimeSetUp]
    public async Task CreateKeyAsync()
    {
        await Host.CreateOrgAsync("acme");
        _key = (await Host.CreateKeyAsync("acme", new { name = "v2", customerId = "cust_2" })).Str("key");
    }

    [SetUp]
    public void Reset() => Upstream.Reset();

    private static GatewaySignatureVerifier Orders(GatewaySignatureOptions? options = null) =>
        GatewaySignatureVerifier.ForCluster("orders", new Dictionary<string, string> { ["k1"] = OrdersKey }, options);

    private static GatewaySignatureVerifier Billing() =>
        GatewaySignatureVerifier.ForCluster("billing", new Dictionary<string, string> { ["k1"] = BillingKey });

    private static GatewaySignatureVerifier V1() => new(new Dictionary<string, string> { ["k1"] = Secret });

    private static GatewaySignatureResult Verify(GatewaySignatureVerifier verifier, ReceivedRequest r, IEnumerable<KeyValuePair<string, string>>? headers = null, byte[]? body = null) =>
        verifier.Verify(r.Method, r.RawTarget, headers ?? r.HeaderLines, body ?? r.Body);

    private async Task<ReceivedRequest> SendAsync(HttpMethod method, string path, HttpContent? content = null, Action<HttpRequestMessage>? configure = null)
    {
        using var request = new HttpRequestMessage(method, path) { Content = content };
        request.Headers.TryAddWithoutValidation("Authorization", "Bearer " + _key);
        configure?.Invoke(request);
        using var response = await Host.Proxy.SendAsync(request);
        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        return Upstream.Only();
    }

    [Test]
    public async Task Proxy_V1AndV2_HeaderCarriesNonceAndBothMacs_EachVerifies()
    {
        var received = await SendAsync(HttpMethod.Get, "/orders/7?b=2&a=%20x", configure: r => r.Headers.Add("X-Request-Id", "req-v2-1"));

        Assert.That(received.Header("X-Gateway-Signature"), Does.Match("^t=[0-9]+,kid=k1,n=[A-Za-z0-9_-]{22},v1=[0-9a-f]{64},v2=[0-9a-f]{64}$"));
        Assert.That(Verify(Orders(), received), Is.EqualTo(GatewaySignatureResult.Valid));
        Assert.That(Verify(V1(), received), Is.EqualTo(GatewaySignatureResult.Valid), "v1 still verifies during the transition");
        Assert.That(received.Header("Content-Digest"), Is.Null);

        // The canonical string is exactly the documented one.
        var expected = string.Join('\n', "v2", received.SignedAt.ToString(CultureInfo.InvariantCulture), received.Member("n"), "GET",
            $"127.0.0.1:{Upstream.Port}", "orders", "/orders/7?b=2&a=%20x",
            received.Header("X-Org-Id"), received.Header("X-Key-Id"), "v2", "*", "production", "cust_2", "req-v2-1", "none");
        Assert.That(received.Member("v2"), Is.EqualTo(GatewaySignature.ComputeV2(Convert.FromHexString(OrdersKey), expected)));
    }

    [Test]
    public async Task Proxy_V2_EveryRequestHasItsOwnNonce_AndASecondUseIsReplayed()
    {
        var first = await SendAsync(HttpMethod.Get, "/orders/x");
        Upstream.Reset();
        var second = await SendAsync(HttpMethod.Get, "/orders/x");
        var verifier = Orders(new GatewaySignatureOptions { NonceCache = new MemoryNonceCache() });

        Assert.That(first.Member("n"), Is.Not.EqualTo(second.Member("n")));
        Assert.That(Verify(verifier, first), Is.EqualTo(GatewaySignatureResult.Valid));
        Assert.That(Verify(verifier, second), Is.EqualTo(GatewaySignatureResult.Valid));
        Assert.That(Verify(verifier, first), Is.EqualTo(GatewaySignatureResult.Replayed));
    }

    [Test]
    public async Task Verify_V2_ChangedHostClusterOrNonce_IsInvalid()
    {
        var received = await SendAsync(HttpMethod.Get, "/orders/x");
        var signature = received.Header("X-Gateway-Signature")!;
        var otherNonce = signature.Replace("n=" + received.Member("n"), "n=" + new string('A', 22), StringComparison.Ordinal);
        var asBilling = GatewaySignatureVerifier.ForCluster("billing", new Dictionary<string, string> { ["k1"] = OrdersKey });

        Assert.That(Verify(Orders(), received, received.With("Host", "127.0.0.1:1")), Is.EqualTo(GatewaySignatureResult.Invalid));
        Assert.That(Verify(asBilling, received), Is.EqualTo(GatewaySignatureResult.Invalid));
        Assert.That(Verify(Orders(), received, received.With("X-Gateway-Signature", otherNonce)), Is.EqualTo(GatewaySignatureResult.Invalid));
        Assert.That(Verify(Orders(), received with { RawTarget = "/orders/y" }), Is.EqualTo(GatewaySignatureResult.Invalid));
        Assert.That(Verify(Orders(), received, received.With("X-Org-Id", "other")), Is.EqualTo(GatewaySignatureResult.Invalid));
    }

    [Test]
    public async Task Proxy_V2_RouteKeepsClientHost_SignsTheHostSent()
    {
        var received = await SendAsync(HttpMethod.Get, "/kept/x", configure: r => r.Headers.Host = "api.example.com");

        Assert.That(received.Header("Host"), Is.EqualTo("api.example.com"));
        Assert.That(Verify(Orders(), received), Is.EqualTo(GatewaySignatureResult.Valid));
        Assert.That(Verify(Orders(), received, received.With("Host", $"127.0.0.1:{Upstream.Port}")), Is.EqualTo(GatewaySignatureResult.Invalid));
    }

    [Test]
    public async Task Verify_V2_HostNotAnswered_IsRefused()
    {
        var received = await SendAsync(HttpMethod.Get, "/orders/x");

        Assert.That(Verify(Orders(new GatewaySignatureOptions { AllowedHosts = [$"127.0.0.1:{Upstream.Port}"] }), received), Is.EqualTo(GatewaySignatureResult.Valid));
        Assert.That(Verify(Orders(new GatewaySignatureOptions { AllowedHosts = ["orders-2.internal"] }), received), Is.EqualTo(GatewaySignatureResult.HostNotAllowed));
    }

    [Test]
    public async Task Proxy_V2_BodyWithinLimit_IsDigestedAndBound()
    {
        var body = Encoding.UTF8.GetBytes("{\"amount\":100}");
        var received = await SendAsync(HttpMethod.Post, "/orders/pay", new ByteArrayContent(body),
            r => r.Headers.TryAddWithoutValidation("Content-Digest", "sha-256=:forged:"));

        Assert.That(received.Body, Is.EqualTo(body), "the buffered body is what went upstream");
        Assert.That(received.Header("Content-Digest"), Is.EqualTo(GatewaySignature.ContentDigest(body)), "the client's Content-Digest is replaced");
        Assert.That(Verify(Orders(), received), Is.EqualTo(GatewaySignatureResult.Valid));

        var changed = Encoding.UTF8.GetBytes("{\"amount\":999}");
        Assert.That(Verify(Orders(), received, body: changed), Is.EqualTo(GatewaySignatureResult.BodyMismatch));
        Assert.That(Verify(Orders(), received, received.With("Content-Digest", GatewaySignature.ContentDigest(changed)), changed), Is.EqualTo(GatewaySignatureResult.Invalid));
        Assert.That(Verify(Orders(), received, received.With("Content-Digest", null), changed), Is.EqualTo(GatewaySignatureResult.Invalid));
    }

    [Test]
    public async Task Proxy_V2_NoBodySigned_BodyAddedIsRefused()
    {
        var received = await SendAsync(HttpMethod.Get, "/orders/x");

        Assert.That(Verify(Orders(), received, body: "smuggled"u8.ToArray()), Is.EqualTo(GatewaySignatureResult.BodyMismatch));
    }

    [Test]
    public async Task Proxy_V2_BodyOverLimitOrChunked_IsSignedAsNotCovered()
    {
        var large = new byte[MaxDigestBytes + 1];
        Random.Shared.NextBytes(large);
        var overLimit = await SendAsync(HttpMethod.Post, "/orders/upload", new ByteArrayContent(large));
        Upstream.Reset();
        var chunked = await SendAsync(HttpMethod.Post, "/orders/upload", new ByteArrayContent("small"u8.ToArray()), r => r.Headers.TransferEncodingChunked = true);

        foreach (var received in new[] { overLimit, chunked })
        {
            Assert.That(received.Header("Content-Digest"), Is.Null);
            Assert.That(Verify(Orders(), received), Is.EqualTo(GatewaySignatureResult.Valid));
            Assert.That(Verify(Orders(new GatewaySignatureOptions { RequireBodyDigest = true }), received), Is.EqualTo(GatewaySignatureResult.BodyNotSigned));
        }

        Assert.That(overLimit.Body, Is.EqualTo(large));
    }

    [Test]
    public async Task Verify_V2_OtherClustersKey_CannotVerifyOrMint()
    {
        var billing = await SendAsync(HttpMethod.Get, "/billing/invoices");

        Assert.That(Verify(Billing(), billing), Is.EqualTo(GatewaySignatureResult.Valid));
        Assert.That(Verify(Orders(), billing), Is.EqualTo(GatewaySignatureResult.Invalid), "orders' verifier refuses billing's request");
        Assert.That(OrdersKey, Is.Not.EqualTo(BillingKey));

        // An orders upstream holding its key forges a billing request for another organization.
        var forgedHeaders = billing.With("X-Org-Id", "victim");
        var t = billing.SignedAt;
        var n = billing.Member("n");
        var canonical = GatewaySignature.CanonicalStringV2(t, n, "GET", $"127.0.0.1:{Upstream.Port}", "billing", billing.RawTarget,
            name => forgedHeaders.SingleOrDefault(h => h.Key.Equals(name, StringComparison.OrdinalIgnoreCase)).Value, GatewaySignature.NoBody);
        var forged = $"t={t},kid=k1,n={n},v2={GatewaySignature.ComputeV2(Convert.FromHexString(OrdersKey), canonical)}";

        Assert.That(Verify(Billing(), billing, forgedHeaders.Select(h => h.Key.Equals("X-Gateway-Signature", StringComparison.OrdinalIgnoreCase) ? KeyValuePair.Create(h.Key, forged) : h)),
            Is.EqualTo(GatewaySignatureResult.Invalid));
    }

    [Test]
    public async Task Verify_V2_OnlyV1Present_IsRefusedByClusterVerifier()
    {
        var received = await SendAsync(HttpMethod.Get, "/orders/x");
        var v1Only = $"t={received.SignedAt},kid=k1,v1={received.Member("v1")}";

        Assert.That(Verify(Orders(), received, received.With("X-Gateway-Signature", v1Only)), Is.EqualTo(GatewaySignatureResult.Malformed));
        Assert.That(Verify(V1(), received, received.With("X-Gateway-Signature", v1Only)), Is.EqualTo(GatewaySignatureResult.Valid));
    }

    [Test]
    public async Task Verify_V2_ReplayOlderThanTolerance_IsExpired()
    {
        var received = await SendAsync(HttpMethod.Get, "/orders/x");
        var at = DateTimeOffset.FromUnixTimeSeconds(received.SignedAt) + TimeSpan.FromMinutes(5);

        Assert.That(Verify(Orders(new GatewaySignatureOptions { TimeProvider = new FakeTimeProvider(at) }), received), Is.EqualTo(GatewaySignatureResult.Valid));
        Assert.That(Verify(Orders(new GatewaySignatureOptions { TimeProvider = new FakeTimeProvider(at.AddSeconds(1)) }), received), Is.EqualTo(GatewaySignatureResult.Expired));
    }

    [TestCase("X-Org-Id")]
    [TestCase("x-org-id")]
    [TestCase("X_Org_Id")]
    [TestCase("X-Key-Scopes")]
    [TestCase("X-Customer-Id")]
    [TestCase("X-Request-Id")]
    [TestCase("X-Gateway-Signature")]
    public async Task Verify_ReplayWithDuplicatedHeader_IsRefusedByBothVersions(string name)
    {
        var received = await SendAsync(HttpMethod.Get, "/orders/x");
        var replay = received.WithDuplicate(name, "other");

        Assert.That(Verify(V1(), received, replay), Is.EqualTo(GatewaySignatureResult.DuplicateHeader));
        Assert.That(Verify(Orders(), received, replay), Is.EqualTo(GatewaySignatureResult.DuplicateHeader));
    }

    [TestCase("Host")]
    [TestCase("Content-Digest")]
    public async Task Verify_V2_DuplicatedHostOrDigest_IsRefused(string name)
    {
        var body = "{}"u8.ToArray();
        var received = await SendAsync(HttpMethod.Post, "/orders/x", new ByteArrayContent(body));

        Assert.That(Verify(Orders(), received, received.WithDuplicate(name, "other")), Is.EqualTo(GatewaySignatureResult.DuplicateHeader));
    }

    [Test]
    public async Task Upstream_ReplayOverTheWireWithForgedOrgInsertedFirst_IsRefused()
    {
        var received = await SendAsync(HttpMethod.Get, "/orders/x");

        // The captured request, replayed straight to the upstream with a forged X-Org-Id before the genuine one.
        var wire = new StringBuilder($"GET {received.RawTarget} HTTP/1.1\r\n");
        foreach (var (name, value) in received.HeaderLines)
        {
            if (name.Equals("X-Org-Id", StringComparison.OrdinalIgnoreCase))
            {
                wire.Append("X-Org-Id: other\r\n");
            }

            wire.Append(name).Append(": ").Append(value).Append("\r\n");
        }

        wire.Append("Connection: close\r\n\r\n");
        Upstream.Reset();
        using (var client = new TcpClient())
        {
            await client.ConnectAsync(IPAddress.Loopback, Upstream.Port);
            var stream = client.GetStream();
            await stream.WriteAsync(Encoding.ASCII.GetBytes(wire.ToString()));
            using var reader = new StreamReader(stream);
            Assert.That(await reader.ReadLineAsync(), Does.StartWith("HTTP/1.1 200"));
        }

        var replayed = Upstream.Only();

        // Kestrel hands the application the forged value first: what a lookup by name would read.
        Assert.That(replayed.HeaderLines.Where(h => h.Key == "X-Org-Id").Select(h => h.Value), Is.EqualTo(new[] { "other", received.Header("X-Org-Id") }));
        Assert.That(Verify(V1(), replayed), Is.EqualTo(GatewaySignatureResult.DuplicateHeader));
        Assert.That(Verify(Orders(), replayed), Is.EqualTo(GatewaySignatureResult.DuplicateHeader));
    }

    [Test]
    public async Task Proxy_ClientUnderscoreCopyOfRequestId_IsRemovedSoTheRequestStillVerifies()
    {
        var received = await SendAsync(HttpMethod.Get, "/orders/x", configure: r => r.Headers.TryAddWithoutValidation("X_Request_Id", "client-chosen"));

        Assert.That(received.HeaderLines.Count(h => ReceivedRequest.SameHeaderName(h.Key, "X-Request-Id")), Is.EqualTo(1));
        Assert.That(Verify(Orders(), received), Is.EqualTo(GatewaySignatureResult.Valid));
        Assert.That(Verify(V1(), received), Is.EqualTo(GatewaySignatureResult.Valid));
    }

    [TestCase("Gateway:Signing:Versions", "v3")]
    [TestCase("Gateway:Signing:Versions", "")]
    [TestCase("Gateway:Signing:Versions", "v1,v1")]
    [TestCase("Gateway:Signing:MaxDigestBytes", "-1")]
    [TestCase("Gateway:Signing:MaxDigestBytes", "16777217")]
    public void Start_InvalidVersionOrDigestLimit_FailsNamingIt(string key, string value)
    {
        var settings = new Dictionary<string, string?>
        {
            ["Gateway:Signing:Secrets:0:Id"] = "k1",
            ["Gateway:Signing:Secrets:0:Secret"] = Secret,
            [key] = value,
        };

        var ex = Assert.CatchAsync(async () => await GatewayHost.StartAsync(settings));

        var message = string.Join(Environment.NewLine, StartupFailure.Describe(ex!));
        Assert.That(message, Does.Contain(key));
        Assert.That(message, Does.Not.Contain(Secret));
    }

    [TestCase("v2")]
    [TestCase("V1, v2")]
    public async Task Start_ValidVersions_Starts(string versions)
    {
        var settings = new Dictionary<string, string?>
        {
            ["Gateway:Signing:Secrets:0:Id"] = "k1",
            ["Gateway:Signing:Secrets:0:Secret"] = Secret,
            ["Gateway:Signing:Versions"] = versions,
            ["Gateway:Signing:MaxDigestBytes"] = "0",
        };

        await using var gateway = await GatewayHost.StartAsync(settings);
    }
}
