using System.Net;
using Gateway.Keys;
using Gateway.Tests.Common;

namespace Gateway.Tests.Admin;

/// <summary>Probes and metrics on the admin listener, without a token, and no key material in metrics.</summary>
[TestFixtureSource(typeof(StoreKinds), nameof(StoreKinds.All))]
public sealed class OperationsTests(StoreKind store) : GatewayFixture(store)
{
    private HttpClient _anonymousAdmin = null!;

    protected override Dictionary<string, string?> Settings(string upstream) =>
        GatewayHost.Routes(upstream, ("open", "/api/{**rest}", []));

    [OneTimeSetUp]
    public void StartAnonymousAdmin()
    {
        _anonymousAdmin = new HttpClient { BaseAddress = Host.AdminUrl };
    }

    [OneTimeTearDown]
    public void StopAnonymousAdmin() => _anonymousAdmin.Dispose();

    [TestCase("healthz")]
    [TestCase("readyz")]
    public async Task Probe_OnAdminListenerWithoutToken_Returns200(string path)
    {
        using var response = await _anonymousAdmin.GetAsync(path);

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK));
    }

    [TestCase("healthz")]
    [TestCase("readyz")]
    public async Task Probe_Head_Returns200WithoutBody(string path)
    {
        using var response = await _anonymousAdmin.SendAsync(new HttpRequestMessage(HttpMethod.Head, path));

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        Assert.That(await response.Content.ReadAsByteArrayAsync(), Is.Empty);
    }

    [TestCase("healthz")]
    [TestCase("readyz")]
    [TestCase("metrics")]
    public async Task Operations_OnProxyListener_Return404NoRoute(string path)
    {
        using var response = await Host.Proxy.GetAsync(path);

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.NotFound));
        Assert.That((await GatewayHost.ProblemAsync(response))["code"]!.GetValue<string>(), Is.EqualTo("no_route"));
    }

    [Test]
    public async Task Metrics_AfterTraffic_ExposesGatewayCountersWithoutKeyMaterial()
    {
        var org = await Host.CreateOrgAsync("metrics_org");
        var key = org["defaultKey"]!["key"]!.GetValue<string>();
        var unknown = ApiKeyFormat.Generate("gw", "production");
        using (var ok = await Host.CallAsync("/api/x", key))
        using (var missing = await Host.CallAsync("/api/x", null))
        using (var invalid = await Host.CallAsync("/api/x", unknown))
        {
            Assert.That(ok.StatusCode, Is.EqualTo(HttpStatusCode.OK));
            Assert.That(missing.StatusCode, Is.EqualTo(HttpStatusCode.Unauthorized));
            Assert.That(invalid.StatusCode, Is.EqualTo(HttpStatusCode.Unauthorized));
        }

        // Meter instruments reach prometheus-net through a listener; wait for them instead of sleeping.
        var text = await Eventually.ValueAsync(
            async () =>
            {
                using var response = await _anonymousAdmin.GetAsync("metrics");
                Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK));
                Assert.That(response.Content.Headers.ContentType?.MediaType, Is.EqualTo("text/plain"));
                return await response.Content.ReadAsStringAsync();
            },
            scraped => HasSample(scraped, "gateway_requests", "forwarded") && HasSample(scraped, "gateway_auth_decisions", "invalid_key"),
            TimeSpan.FromSeconds(10),
            "gateway_ request and auth-decision samples on /metrics");

        var gatewayLines = string.Join("\n", text.Split('\n').Where(l => l.StartsWith("gateway_", StringComparison.Ordinal)));
        Assert.Multiple(() =>
        {
            Assert.That(gatewayLines, Is.Not.Empty, "gateway_ metrics");
            Assert.That(HasSample(text, "gateway_requests", "forwarded"), Is.True, "request counter by outcome");
            Assert.That(HasSample(text, "gateway_auth_decisions", "allowed"), Is.True, "auth decision: allowed");
            Assert.That(HasSample(text, "gateway_auth_decisions", "missing_key"), Is.True, "auth decision: missing_key\n" + gatewayLines);
            Assert.That(HasSample(text, "gateway_auth_decisions", "invalid_key"), Is.True, "auth decision: invalid_key");
            Assert.That(text, Does.Contain("# TYPE gateway_"), "Prometheus text format");
        });

        foreach (var secret in new[] { key, key[^38..^10], unknown[^38..^10], ApiKeyFormat.Hash(key), ApiKeyFormat.Hash(unknown), ApiKeyFormat.DisplayPrefix(key), GatewayHost.AdminToken })
        {
            Assert.That(text, Does.Not.Contain(secret), "metrics must not carry key material");
        }
    }

    private static bool HasSample(string text, string metricPrefix, string label) =>
        text.Split('\n').Any(line => line.StartsWith(metricPrefix, StringComparison.Ordinal) && line.Contains($"\"{label}\"", StringComparison.Ordinal) && !line.TrimEnd().EndsWith(" 0", StringComparison.Ordinal));
}
