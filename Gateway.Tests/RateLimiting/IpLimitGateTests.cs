using System.Net;
using System.Security.Cryptography;
using System.Text;
using Gateway.Tests.Common;

namespace Gateway.Tests.RateLimiting;

/// <summary>
/// The client IP limit outside the YARP pipeline: unmatched paths, leaked-key reports and the admin API
/// each take a permit of Gateway:RateLimits:Ip, and the next request over it gets 429 rate_limited.
/// </summary>
[NonParallelizable]
public sealed class IpLimitGateTests
{
    private const int Limit = 3;

    [TestCase(StoreKind.Sqlite)]
    [TestCase(StoreKind.Redis)]
    public async Task UnmatchedPath_OverTheIpLimit_Returns429WithHeaders(StoreKind store)
    {
        await using var gateway = await GatewayHost.StartAsync(Settings(), store: store);

        for (var i = 0; i < Limit; i++)
        {
            using var miss = await gateway.CallAsync($"/nowhere/{i}", key: null);
            Assert.That(miss.StatusCode, Is.EqualTo(HttpStatusCode.NotFound), $"request {i}");
            Assert.That((await GatewayHost.ProblemAsync(miss)).Str("code"), Is.EqualTo("no_route"));
            Assert.That(miss.Headers.GetValues("X-RateLimit-Remaining").Single(), Is.EqualTo((Limit - 1 - i).ToString(System.Globalization.CultureInfo.InvariantCulture)));
        }

        using var refused = await gateway.CallAsync("/nowhere/else", key: null);
        await AssertRateLimitedAsync(refused);
    }

    [Test]
    public async Task UnmatchedPaths_SpendTheAllowanceOfProxiedRequests()
    {
        using var upstream = Upstream.Start();
        var settings = Settings();
        foreach (var (name, value) in GatewayHost.Routes(upstream.Url, ("public", "/public/{**rest}", [("Anonymous", "true")])))
        {
            settings[name] = value;
        }

        await using var gateway = await GatewayHost.StartAsync(settings);
        for (var i = 0; i < Limit; i++)
        {
            Assert.That(await gateway.StatusAsync(null, $"/probe/{i}"), Is.EqualTo(HttpStatusCode.NotFound));
        }

        using var refused = await gateway.CallAsync("/public/x", key: null);
        await AssertRateLimitedAsync(refused);
        Assert.That(upstream.Received, Is.Empty);
    }

    [Test]
    public async Task SecretScanningReports_OverTheIpLimit_Return429()
    {
        using var github = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var settings = Settings();
        settings["Gateway:SecretScanning:Enabled"] = "true";
        settings["Gateway:SecretScanning:PublicKeys:gh-key-1"] = github.ExportSubjectPublicKeyInfoPem();
        await using var gateway = await GatewayHost.StartAsync(settings);

        async Task<HttpResponseMessage> PostAsync()
        {
            var body = Encoding.UTF8.GetBytes("[]");
            using var request = new HttpRequestMessage(HttpMethod.Post, "/_gateway/secret-scanning") { Content = new ByteArrayContent(body) };
            request.Headers.Add("GITHUB-PUBLIC-KEY-IDENTIFIER", "gh-key-1");
            request.Headers.Add("GITHUB-PUBLIC-KEY-SIGNATURE", Convert.ToBase64String(github.SignData(body, HashAlgorithmName.SHA256, DSASignatureFormat.Rfc3279DerSequence)));
            return await gateway.Proxy.SendAsync(request);
        }

        for (var i = 0; i < Limit; i++)
        {
            using var accepted = await PostAsync();
            Assert.That(accepted.StatusCode, Is.EqualTo(HttpStatusCode.OK), $"report {i}");
        }

        using var refused = await PostAsync();
        await AssertRateLimitedAsync(refused);
    }

    [Test]
    public async Task AdminCalls_OverTheIpLimit_Return429_ApartFromTheProxyAllowance()
    {
        using var upstream = Upstream.Start();
        var settings = Settings();
        foreach (var (name, value) in GatewayHost.Routes(upstream.Url, ("public", "/public/{**rest}", [("Anonymous", "true")])))
        {
            settings[name] = value;
        }

        await using var gateway = await GatewayHost.StartAsync(settings);
        for (var i = 0; i < Limit; i++)
        {
            using var listed = await gateway.Admin.GetAsync("admin/orgs");
            Assert.That(listed.StatusCode, Is.EqualTo(HttpStatusCode.OK), $"admin call {i}");
        }

        using var refused = await gateway.Admin.GetAsync("admin/orgs");
        await AssertRateLimitedAsync(refused);

        // Wrong tokens are refused by the IP limit too before the token is looked at.
        using var wrong = new HttpRequestMessage(HttpMethod.Get, "admin/orgs");
        wrong.Headers.Authorization = new("Bearer", "wrong");
        using var wrongResponse = await gateway.Admin.SendAsync(wrong);
        Assert.That(wrongResponse.StatusCode, Is.EqualTo(HttpStatusCode.TooManyRequests));

        // The admin listener counts apart: the proxy's allowance for this address is untouched.
        Assert.That(await gateway.StatusAsync(null, "/public/x"), Is.EqualTo(HttpStatusCode.OK));
        using var health = await gateway.Admin.GetAsync("healthz");
        Assert.That(health.StatusCode, Is.EqualTo(HttpStatusCode.OK), "probes are not limited");
    }

    private static Dictionary<string, string?> Settings() => new()
    {
        ["Gateway:RateLimits:Ip:PermitLimit"] = Limit.ToString(System.Globalization.CultureInfo.InvariantCulture),
        ["Gateway:RateLimits:Ip:Window"] = "00:01:00",
    };

    private static async Task AssertRateLimitedAsync(HttpResponseMessage response)
    {
        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.TooManyRequests));
        var problem = await GatewayHost.ProblemAsync(response);
        Assert.That(problem.Str("code"), Is.EqualTo("rate_limited"));
        Assert.That(problem.Str("limit"), Is.EqualTo("ip"));
        Assert.That(response.Headers.RetryAfter?.Delta, Is.GreaterThanOrEqualTo(TimeSpan.FromSeconds(1)));
        Assert.That(response.Headers.GetValues("X-RateLimit-Limit").Single(), Is.EqualTo(Limit.ToString(System.Globalization.CultureInfo.InvariantCulture)));
        Assert.That(response.Headers.GetValues("X-RateLimit-Remaining").Single(), Is.EqualTo("0"));
        Assert.That(response.Headers.Contains("X-RateLimit-Reset"), Is.True);
    }
}
