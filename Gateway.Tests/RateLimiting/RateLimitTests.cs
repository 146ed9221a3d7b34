using System.Net;
using Gateway.Keys;
using Gateway.Stores;
using Gateway.Tests.Common;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;

namespace Gateway.Tests.RateLimiting;

/// <summary>Rate limits (docs/rate-limits.md) on one instance, with a fake clock.</summary>
public sealed class RateLimitTests : UpstreamFixture
{
    [SetUp]
    public void ResetUpstream() => Upstream.Reset();

    [Test]
    public async Task Workspace_LimitReached_429WithHeadersAndRetryAfterCorrectToTheSecond()
    {
        var time = new FakeTimeProvider(new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero));
        await using var gateway = await StartAsync(time, ("Gateway:RateLimits:Workspace:PermitLimit", "3"), ("Gateway:RateLimits:Workspace:Window", "00:01:00"));
        var key = await KeyAsync(gateway, "acme");
        var other = await KeyAsync(gateway, "other");

        using (var first = await gateway.CallAsync("/api/x", key))
        {
            AssertHeaders(first, limit: 3, remaining: 2, reset: 61);
        }

        time.Advance(TimeSpan.FromSeconds(20));
        using (var second = await gateway.CallAsync("/api/x", key))
        {
            AssertHeaders(second, limit: 3, remaining: 1, reset: 41);
        }

        using (var third = await gateway.CallAsync("/api/x", key))
        {
            AssertHeaders(third, limit: 3, remaining: 0, reset: 41);
        }

        using var refused = await gateway.CallAsync("/api/x", key);
        Assert.That(refused.StatusCode, Is.EqualTo(HttpStatusCode.TooManyRequests));
        var problem = await GatewayHost.ProblemAsync(refused);
        Assert.That(problem.Str("code"), Is.EqualTo("rate_limited"));
        Assert.That(problem.Str("limit"), Is.EqualTo("workspace"));
        var retryAfter = int.Parse(refused.Headers.GetValues("Retry-After").Single(), System.Globalization.CultureInfo.InvariantCulture);
        Assert.That(retryAfter, Is.EqualTo(41));
        AssertHeaders(refused, limit: 3, remaining: 0, reset: 41);

        using (var otherOrg = await gateway.CallAsync("/api/x", other))
        {
            Assert.That(otherOrg.StatusCode, Is.EqualTo(HttpStatusCode.OK), "one org cannot exhaust another's workspace");
        }

        time.Advance(TimeSpan.FromSeconds(retryAfter - 1));
        using (var early = await gateway.CallAsync("/api/x", key))
        {
            Assert.That(early.StatusCode, Is.EqualTo(HttpStatusCode.TooManyRequests), "one second early is still refused");
        }

        time.Advance(TimeSpan.FromSeconds(1));
        using (var again = await gateway.CallAsync("/api/x", key))
        {
            Assert.That(again.StatusCode, Is.EqualTo(HttpStatusCode.OK), "Retry-After later a permit is back");
        }

        using (var onlyOne = await gateway.CallAsync("/api/x", key))
        {
            Assert.That(onlyOne.StatusCode, Is.EqualTo(HttpStatusCode.TooManyRequests), "the sliding window returned one permit, not three");
        }
    }

    [Test]
    public async Task IpLimit_BadKeyFlood_RefusedBeforeTheStore()
    {
        CountingStore store = null!;
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        await using var gateway = await GatewayHost.StartAsync(
            Settings(("Gateway:RateLimits:Ip:PermitLimit", "3"), ("Gateway:RateLimits:Ip:Window", "00:00:10")),
            services =>
            {
                services.AddSingleton<TimeProvider>(time);
                services.AddSingleton<IKeyLookup>(sp => store = new CountingStore(sp.GetRequiredService<IGatewayStore>()));
            });

        for (var i = 0; i < 3; i++)
        {
            using var response = await gateway.CallAsync("/api/x", ApiKeyFormat.Generate("gw", "production"));
            Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.Unauthorized));
            Assert.That(response.Headers.GetValues("X-RateLimit-Limit").Single(), Is.EqualTo("3"));
        }

        Assert.That(store.Lookups, Is.EqualTo(3));
        for (var i = 0; i < 20; i++)
        {
            using var response = await gateway.CallAsync("/api/x", ApiKeyFormat.Generate("gw", "production"));
            Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.TooManyRequests));
            Assert.That((await GatewayHost.ProblemAsync(response)).Str("limit"), Is.EqualTo("ip"));
        }

        Assert.That(store.Lookups, Is.EqualTo(3), "refused by the IP limit before any key lookup");
        Assert.That(Upstream.Received, Is.Empty, "no request of the flood reached the upstream");
    }

    [TestCase(StoreKind.Sqlite)]
    [TestCase(StoreKind.Redis)]
    public async Task IpLimit_ConcurrentUnknownKeys_AtMostTheLimitReachTheStore(StoreKind kind)
    {
        const int Limit = 10;
        const int Requests = 64;
        CountingStore? store = null;
        var settings = Settings(("Gateway:RateLimits:Ip:PermitLimit", Limit.ToString(System.Globalization.CultureInfo.InvariantCulture)), ("Gateway:RateLimits:Ip:Window", "00:01:00"));
        await using var gateway = await GatewayHost.StartAsync(
            settings,
            services => services.AddSingleton<IKeyLookup>(sp => store = new CountingStore(sp.GetRequiredService<IGatewayStore>())),
            store: kind,
            redisPrefix: kind == StoreKind.Redis ? $"t{Guid.NewGuid():N}:" : null);
        store!.Lookups = 0;

        var statuses = await Task.WhenAll(Enumerable.Range(0, Requests).Select(async _ =>
        {
            using var response = await gateway.CallAsync("/api/x", ApiKeyFormat.Generate("gw", "production"));
            return response.StatusCode;
        }));

        Assert.That(statuses.Count(s => s == HttpStatusCode.Unauthorized), Is.LessThanOrEqualTo(Limit));
        Assert.That(statuses.Count(s => s == HttpStatusCode.TooManyRequests), Is.GreaterThanOrEqualTo(Requests - Limit));
        Assert.That(store.Lookups, Is.LessThanOrEqualTo(Limit), "each key lookup needed an IP permit taken before it");
    }

    [Test]
    public async Task AuthFailure_ReportsTheIpPermitItUsed()
    {
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        await using var gateway = await StartAsync(time, ("Gateway:RateLimits:Ip:PermitLimit", "5"));

        using var first = await gateway.CallAsync("/api/x", ApiKeyFormat.Generate("gw", "production"));
        using var second = await gateway.CallAsync("/api/x", null);

        Assert.That(first.StatusCode, Is.EqualTo(HttpStatusCode.Unauthorized));
        Assert.That(first.Headers.GetValues("X-RateLimit-Remaining").Single(), Is.EqualTo("4"));
        Assert.That(second.StatusCode, Is.EqualTo(HttpStatusCode.Unauthorized));
        Assert.That(second.Headers.GetValues("X-RateLimit-Remaining").Single(), Is.EqualTo("3"));
    }

    [Test]
    public async Task RetryAfter_SeveralLimitsRefuse_TheLongestWait()
    {
        var time = new FakeTimeProvider(new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero));
        await using var gateway = await StartAsync(time, ("Gateway:RateLimits:Workspace:PermitLimit", "1"), ("Gateway:RateLimits:Workspace:Window", "00:00:05"));
        await gateway.CreateOrgAsync("acme");
        var key = (await gateway.CreateKeyAsync("acme", new { name = "limited", rateLimit = new { permitLimit = 1, window = "00:01:00" } })).Str("key");
        Assert.That(await gateway.StatusAsync(key), Is.EqualTo(HttpStatusCode.OK));

        using var refused = await gateway.CallAsync("/api/x", key);

        Assert.That(refused.StatusCode, Is.EqualTo(HttpStatusCode.TooManyRequests));
        Assert.That(refused.Headers.GetValues("Retry-After").Single(), Is.EqualTo("61"), "the key's minute, not the workspace's five seconds");
        Assert.That((await GatewayHost.ProblemAsync(refused)).Str("limit"), Is.EqualTo("key"));

        time.Advance(TimeSpan.FromSeconds(6));
        Assert.That(await gateway.StatusAsync(key), Is.EqualTo(HttpStatusCode.TooManyRequests), "the workspace limit is free again, the key's is not");
        time.Advance(TimeSpan.FromSeconds(55));
        Assert.That(await gateway.StatusAsync(key), Is.EqualTo(HttpStatusCode.OK), "after Retry-After every limit has a permit");
    }

    [Test]
    public async Task IpLimit_Ipv6ClientsShareTheLimitPerPrefix()
    {
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        await using var gateway = await StartAsync(time, ("Gateway:RateLimits:Ip:PermitLimit", "2"), ("Gateway:TrustedProxies:0", "127.0.0.1"));

        async Task<HttpStatusCode> From(string xff)
        {
            using var response = await gateway.CallAsync("/public/x", null, r => r.Headers.TryAddWithoutValidation("X-Forwarded-For", xff));
            return response.StatusCode;
        }

        Assert.That(await From("2001:db8:1:2::1"), Is.EqualTo(HttpStatusCode.OK));
        Assert.That(await From("2001:db8:1:2:aaaa::9"), Is.EqualTo(HttpStatusCode.OK));
        Assert.That(await From("2001:db8:1:2:ffff:ffff:ffff:ffff"), Is.EqualTo(HttpStatusCode.TooManyRequests), "same /64, same limit");
        Assert.That(await From("2001:db8:1:3::1"), Is.EqualTo(HttpStatusCode.OK), "another /64 has its own limit");
    }

    [Test]
    public async Task KeyLimitRefusal_ConsumesNoWorkspaceOrIpPermit()
    {
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        await using var gateway = await StartAsync(time, ("Gateway:RateLimits:Workspace:PermitLimit", "5"), ("Gateway:RateLimits:Ip:PermitLimit", "8"));
        await gateway.CreateOrgAsync("acme");
        var limited = (await gateway.CreateKeyAsync("acme", new { name = "limited", rateLimit = new { permitLimit = 2, window = "00:01:00" } })).Str("key");
        var free = (await gateway.CreateKeyAsync("acme", new { name = "free" })).Str("key");

        Assert.That(await gateway.StatusAsync(limited), Is.EqualTo(HttpStatusCode.OK));
        using (var second = await gateway.CallAsync("/api/x", limited))
        {
            Assert.That(second.StatusCode, Is.EqualTo(HttpStatusCode.OK));
            AssertHeaders(second, limit: 2, remaining: 0, reset: null);
        }

        for (var i = 0; i < 10; i++)
        {
            using var refused = await gateway.CallAsync("/api/x", limited);
            Assert.That(refused.StatusCode, Is.EqualTo(HttpStatusCode.TooManyRequests));
            Assert.That((await GatewayHost.ProblemAsync(refused)).Str("limit"), Is.EqualTo("key"));
        }

        // Two of five workspace permits and two of eight IP permits are used: three more pass.
        for (var i = 0; i < 3; i++)
        {
            Assert.That(await gateway.StatusAsync(free), Is.EqualTo(HttpStatusCode.OK), $"request {i}");
        }

        using var full = await gateway.CallAsync("/api/x", free);
        Assert.That((await GatewayHost.ProblemAsync(full)).Str("limit"), Is.EqualTo("workspace"));
    }

    [Test]
    public async Task AuthFailures_ChargeOnlyTheIpLimit()
    {
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        await using var gateway = await StartAsync(time, ("Gateway:RateLimits:Workspace:PermitLimit", "2"));
        await gateway.CreateOrgAsync("acme");
        var created = await gateway.CreateKeyAsync("acme", new { name = "k", scopes = new[] { "read" } });
        var key = created.Str("key");

        for (var i = 0; i < 5; i++)
        {
            Assert.That(await gateway.StatusAsync(key, "/writes/x"), Is.EqualTo(HttpStatusCode.Forbidden));
        }

        Assert.That(await gateway.StatusAsync(key), Is.EqualTo(HttpStatusCode.OK));
        Assert.That(await gateway.StatusAsync(key), Is.EqualTo(HttpStatusCode.OK), "403s did not use the workspace's two permits");
        Assert.That(await gateway.StatusAsync(key), Is.EqualTo(HttpStatusCode.TooManyRequests));
    }

    [Test]
    public async Task RoutePolicy_ReplacesWorkspaceLimitOnItsRoute()
    {
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        await using var gateway = await StartAsync(time, ("Gateway:RateLimits:Workspace:PermitLimit", "4"), ("Gateway:RateLimits:Policies:tight:PermitLimit", "2"), ("Gateway:RateLimits:Policies:tight:Window", "00:00:30"));
        var key = await KeyAsync(gateway, "acme");

        Assert.That(await gateway.StatusAsync(key, "/tight/x"), Is.EqualTo(HttpStatusCode.OK));
        Assert.That(await gateway.StatusAsync(key, "/tight/x"), Is.EqualTo(HttpStatusCode.OK));
        using (var refused = await gateway.CallAsync("/tight/x", key))
        {
            Assert.That((await GatewayHost.ProblemAsync(refused)).Str("limit"), Is.EqualTo("route"));
        }

        for (var i = 0; i < 4; i++)
        {
            Assert.That(await gateway.StatusAsync(key), Is.EqualTo(HttpStatusCode.OK), "the route policy did not use workspace permits");
        }

        Assert.That(await gateway.StatusAsync(key), Is.EqualTo(HttpStatusCode.TooManyRequests));
    }

    [Test]
    public async Task ForwardedFor_FromUntrustedPeer_IsIgnored()
    {
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        await using var gateway = await StartAsync(time, ("Gateway:RateLimits:Ip:PermitLimit", "3"));
        var key = await KeyAsync(gateway, "acme");

        var statuses = new List<HttpStatusCode>();
        for (var i = 0; i < 6; i++)
        {
            using var response = await gateway.CallAsync("/api/x", key, r => r.Headers.TryAddWithoutValidation("X-Forwarded-For", $"203.0.113.{i}, 198.51.100.{i}"));
            statuses.Add(response.StatusCode);
        }

        Assert.That(statuses.Count(s => s == HttpStatusCode.OK), Is.EqualTo(3));
        Assert.That(statuses.Skip(3), Is.All.EqualTo(HttpStatusCode.TooManyRequests));
    }

    [Test]
    public async Task ForwardedFor_BehindTrustedProxy_DistinctClientsDistinctLimits_MalformedNeverErrors()
    {
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        await using var gateway = await StartAsync(time, ("Gateway:RateLimits:Ip:PermitLimit", "2"), ("Gateway:TrustedProxies:0", "127.0.0.1"), ("Gateway:TrustedProxies:1", "10.0.0.0/8"));
        var key = await KeyAsync(gateway, "acme");

        async Task<HttpStatusCode> From(string xff)
        {
            using var response = await gateway.CallAsync("/api/x", key, r => r.Headers.TryAddWithoutValidation("X-Forwarded-For", xff));
            return response.StatusCode;
        }

        Assert.That(await From("198.51.100.1"), Is.EqualTo(HttpStatusCode.OK));
        Assert.That(await From("198.51.100.1, 10.1.2.3"), Is.EqualTo(HttpStatusCode.OK), "trusted hop skipped: same client");
        Assert.That(await From("198.51.100.1"), Is.EqualTo(HttpStatusCode.TooManyRequests));
        Assert.That(await From("198.51.100.2"), Is.EqualTo(HttpStatusCode.OK), "another client has its own limit");
        Assert.That(await From("6.6.6.6, 198.51.100.2"), Is.EqualTo(HttpStatusCode.OK), "a spoofed leftmost entry is not believed");
        Assert.That(await From("198.51.100.2"), Is.EqualTo(HttpStatusCode.TooManyRequests));

        foreach (var malformed in new[] { "garbage", "1.2.3.4.5", ",,,", "[::1]:80", "198.51.100.9, not-an-ip", new string('9', 5000) })
        {
            var status = await From(malformed);
            Assert.That(status, Is.EqualTo(HttpStatusCode.OK).Or.EqualTo(HttpStatusCode.TooManyRequests), malformed);
        }
    }

    [Test]
    public async Task HotReload_ChangedLimitAppliesWithoutRestart()
    {
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        await using var gateway = await StartAsync(time, ("Gateway:RateLimits:Workspace:PermitLimit", "1"));
        var key = await KeyAsync(gateway, "acme");
        Assert.That(await gateway.StatusAsync(key), Is.EqualTo(HttpStatusCode.OK));
        Assert.That(await gateway.StatusAsync(key), Is.EqualTo(HttpStatusCode.TooManyRequests));

        var configuration = (IConfigurationRoot)gateway.Services.GetRequiredService<IConfiguration>();
        configuration["Gateway:RateLimits:Workspace:PermitLimit"] = "3";
        configuration.Reload();

        using var response = await gateway.CallAsync("/api/x", key);
        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        Assert.That(response.Headers.GetValues("X-RateLimit-Limit").Single(), Is.EqualTo("3"));
    }

    [Test]
    public async Task UpstreamRateLimitHeaders_NeverReachTheClient()
    {
        using var upstream = Upstream.Start();
        upstream.Server.Given(WireMock.RequestBuilders.Request.Create().UsingAnyMethod())
            .RespondWith(WireMock.ResponseBuilders.Response.Create().WithStatusCode(200).WithHeader("X-RateLimit-Limit", "999").WithHeader("X-RateLimit-Remaining", "998"));
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        var settings = GatewayHost.Routes(upstream.Url, ("api", "/api/{**rest}", []));
        settings["Gateway:RateLimits:Workspace:PermitLimit"] = "7";
        await using var gateway = await GatewayHost.StartAsync(settings, services => services.AddSingleton<TimeProvider>(time));
        var key = await KeyAsync(gateway, "acme");

        using var response = await gateway.CallAsync("/api/x", key);

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        Assert.That(response.Headers.GetValues("X-RateLimit-Limit"), Is.EqualTo(new[] { "7" }));
        Assert.That(response.Headers.GetValues("X-RateLimit-Remaining"), Is.EqualTo(new[] { "6" }));
    }

    [Test]
    public async Task AnonymousRoute_OnlyIpLimit()
    {
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        await using var gateway = await StartAsync(time, ("Gateway:RateLimits:Ip:PermitLimit", "2"));

        Assert.That(await gateway.StatusAsync(null, "/public/x"), Is.EqualTo(HttpStatusCode.OK));
        Assert.That(await gateway.StatusAsync(null, "/public/x"), Is.EqualTo(HttpStatusCode.OK));
        using var refused = await gateway.CallAsync("/public/x", null);
        Assert.That(refused.StatusCode, Is.EqualTo(HttpStatusCode.TooManyRequests));
        Assert.That((await GatewayHost.ProblemAsync(refused)).Str("limit"), Is.EqualTo("ip"));
    }

    internal static void AssertHeaders(HttpResponseMessage response, int limit, int remaining, int? reset)
    {
        Assert.That(response.Headers.GetValues("X-RateLimit-Limit").Single(), Is.EqualTo(limit.ToString(System.Globalization.CultureInfo.InvariantCulture)));
        Assert.That(response.Headers.GetValues("X-RateLimit-Remaining").Single(), Is.EqualTo(remaining.ToString(System.Globalization.CultureInfo.InvariantCulture)));
        var actualReset = int.Parse(response.Headers.GetValues("X-RateLimit-Reset").Single(), System.Globalization.CultureInfo.InvariantCulture);
        if (reset is { } expected)
        {
            Assert.That(actualReset, Is.EqualTo(expected));
        }
        else
        {
            Assert.That(actualReset, Is.GreaterThanOrEqualTo(1));
        }
    }

    private async Task<GatewayHost> StartAsync(FakeTimeProvider time, params (string Key, string Value)[] settings) =>
        await GatewayHost.StartAsync(Settings(settings), services => services.AddSingleton<TimeProvider>(time));

    private Dictionary<string, string?> Settings(params (string Key, string Value)[] settings)
    {
        var config = GatewayHost.Routes(
            Upstream.Url,
            ("api", "/api/{**rest}", []),
            ("writes", "/writes/{**rest}", [("RequiredScopes", "write")]),
            ("tight", "/tight/{**rest}", [("RateLimitPolicy", "tight")]),
            ("public", "/public/{**rest}", [("Anonymous", "true")]));
        config["Gateway:RateLimits:Policies:tight:PermitLimit"] = "100";
        config["Gateway:RateLimits:Policies:tight:Window"] = "00:01:00";
        foreach (var (key, value) in settings)
        {
            config[key] = value;
        }

        return config;
    }

    private static async Task<string> KeyAsync(GatewayHost gateway, string org)
    {
        await gateway.CreateOrgAsync(org);
        return (await gateway.CreateKeyAsync(org, new { name = "k" })).Str("key");
    }

}
