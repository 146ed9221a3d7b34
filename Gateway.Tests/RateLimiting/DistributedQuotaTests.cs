using System.Net;
using Gateway.Tests.Common;
using Microsoft.Extensions.DependencyInjection;

namespace Gateway.Tests.RateLimiting;

/// <summary>Quotas shared through a real redis-server by two gateway instances, and what survives Redis dying.</summary>
[NonParallelizable]
public sealed class DistributedQuotaTests : UpstreamFixture
{
    [Test]
    public async Task TwoInstances_24ConcurrentClients_QuotaOf100_AdmitAtLeast97AndNeverMore()
    {
        var prefix = $"t{Guid.NewGuid():N}:";
        await using var a = await GatewayHost.StartAsync(Settings(), store: StoreKind.Redis, redisPrefix: prefix);
        await using var b = await GatewayHost.StartAsync(Settings(), store: StoreKind.Redis, redisPrefix: prefix);
        await a.CreateOrgAsync("acme");
        await a.AdminPostAsync("admin/orgs/acme/customers", new { id = "c", name = "C", quota = new { limit = 100, period = "month" } }, expected: 201);
        var key = (await a.CreateKeyAsync("acme", new { name = "k", customerId = "c" })).Str("key");

        // 24 clients, 12 per instance, 15 requests each: 360 requests against a quota of 100.
        var admitted = 0;
        var unexpected = 0;
        await Task.WhenAll(Enumerable.Range(0, 24).Select(async client =>
        {
            var gateway = client % 2 == 0 ? a : b;
            for (var i = 0; i < 15; i++)
            {
                switch (await gateway.StatusAsync(key))
                {
                    case HttpStatusCode.OK: Interlocked.Increment(ref admitted); break;
                    case HttpStatusCode.TooManyRequests: break;
                    default: Interlocked.Increment(ref unexpected); break;
                }
            }
        }));

        Assert.That(unexpected, Is.Zero);
        Assert.That(admitted, Is.InRange(97, 100));
        var usage = await a.AdminGetAsync("admin/orgs/acme/customers/c/usage");
        Assert.That(usage["quota"]!["used"]!.GetValue<long>(), Is.LessThanOrEqualTo(100));
    }

    [Test]
    public async Task CreditsRefuse_QuotaUnitOfTheSameTripGivenBack_UsedIsWhatWasAdmitted_80PercentAt8()
    {
        // Quota and credits are leased in one trip: when the credits refuse, the quota unit leased for the same
        // request must go back at once, or each instance keeps one and a quota of 10 reads 8 (80%) after 6 admitted.
        var prefix = $"t{Guid.NewGuid():N}:";
        var logs = new CapturingLoggerProvider();
        await using var a = await GatewayHost.StartAsync(Settings(), logs.AddTo, store: StoreKind.Redis, redisPrefix: prefix);
        await using var b = await GatewayHost.StartAsync(Settings(), logs.AddTo, store: StoreKind.Redis, redisPrefix: prefix);
        await a.CreateOrgAsync("acme");
        await a.AdminPostAsync("admin/orgs/acme/customers", new { id = "c", name = "C", quota = new { limit = 10, period = "month" } }, expected: 201);
        var first = (await a.CreateKeyAsync("acme", new { name = "k1", customerId = "c", credits = new { remaining = 3 } })).Str("key");
        var second = (await a.CreateKeyAsync("acme", new { name = "k2", customerId = "c", credits = new { remaining = 3 } })).Str("key");
        var plain = (await a.CreateKeyAsync("acme", new { name = "k3", customerId = "c" })).Str("key");

        async Task<long> UsedAsync() => (await a.AdminGetAsync("admin/orgs/acme/customers/c/usage"))["quota"]!["used"]!.GetValue<long>();
        string[] Thresholds() => logs.Entries.Where(e => e.EventId == Gateway.Observability.EventIds.QuotaThresholdReached).Select(e => e.Text).ToArray();

        foreach (var (gateway, key) in new[] { (a, first), (b, second) })
        {
            for (var i = 0; i < 3; i++)
            {
                Assert.That(await gateway.StatusAsync(key), Is.EqualTo(HttpStatusCode.OK));
            }

            Assert.That(await gateway.CodeAsync(key), Is.EqualTo("credits_exhausted"));
        }

        Assert.That(await UsedAsync(), Is.EqualTo(6), "6 admitted: the quota units leased for the refused requests went back");
        Assert.That(Thresholds(), Is.Empty, "no 80% crossing before 8 admitted");

        Assert.That(await a.StatusAsync(plain), Is.EqualTo(HttpStatusCode.OK));
        Assert.That(await UsedAsync(), Is.EqualTo(7));
        Assert.That(Thresholds(), Is.Empty);
        Assert.That(await b.StatusAsync(plain), Is.EqualTo(HttpStatusCode.OK));
        Assert.That(await UsedAsync(), Is.EqualTo(8));
        Assert.That(Thresholds(), Has.Length.EqualTo(1).And.All.Contains("Percent=80"), "80% once, at the 8th admitted");
        Assert.That(await a.StatusAsync(plain), Is.EqualTo(HttpStatusCode.OK));
        Assert.That(await b.StatusAsync(plain), Is.EqualTo(HttpStatusCode.OK));
        Assert.That(await a.CodeAsync(plain), Is.EqualTo("quota_exceeded"));
        Assert.That(await UsedAsync(), Is.EqualTo(10));
        Assert.That(Thresholds(), Has.Length.EqualTo(2).And.Some.Contains("Percent=100"));
    }

    [Test]
    public async Task RedisKilledMidPeriod_RestartedEmpty_QuotaGoesOnFromWhatWasCounted()
    {
        using var redis = RedisServer.Start();
        var settings = Settings();
        settings["Gateway:Store:Redis"] = redis.ConnectionString;
        settings["Gateway:Store:Timeout"] = "00:00:00.300";
        // Keys and customers live in the killed Redis too: keep them cached for the test's length.
        settings["Gateway:Cache:FreshFor"] = "00:05:00";
        await using var gateway = await GatewayHost.StartAsync(settings);
        await gateway.CreateOrgAsync("acme");
        await gateway.AdminPostAsync("admin/orgs/acme/customers", new { id = "c", name = "C", quota = new { limit = 10, period = "month" } }, expected: 201);
        var key = (await gateway.CreateKeyAsync("acme", new { name = "k", customerId = "c" })).Str("key");
        for (var i = 0; i < 6; i++)
        {
            Assert.That(await gateway.StatusAsync(key), Is.EqualTo(HttpStatusCode.OK));
        }

        redis.Kill();
        var during = new List<HttpStatusCode>();
        for (var i = 0; i < 2; i++)
        {
            during.Add(await gateway.StatusAsync(key));
        }

        Assert.That(during, Is.All.EqualTo(HttpStatusCode.OK), "while Redis is down the instance goes on from what it counted, never failing requests");

        redis.Restart(); // empty: no persistence
        // Wait until the gateway talks to the new Redis again, so the requests below go through it (not the fallback).
        var multiplexer = (StackExchange.Redis.IConnectionMultiplexer)gateway.Services.GetService(typeof(StackExchange.Redis.IConnectionMultiplexer))!;
        var counter = (Gateway.RateLimiting.RedisQuotaCounter)gateway.Services.GetService(typeof(Gateway.RateLimiting.IQuotaCounter))!;
        var circuit = (Gateway.Stores.StoreCircuit)gateway.Services.GetService(typeof(Gateway.Stores.StoreCircuit))!;
        await GatewayHost.WaitForAsync(() => Task.FromResult(multiplexer.IsConnected && !counter.OnFallback && !circuit.IsOpen), TimeSpan.FromSeconds(15));

        // The org, customer and key lived in the lost Redis too: make them again (same org and customer ids, so
        // the same quota counter); only the counter's own count is under test here.
        await gateway.CreateOrgAsync("acme");
        await gateway.AdminPostAsync("admin/orgs/acme/customers", new { id = "c", name = "C", quota = new { limit = 10, period = "month" } }, expected: 201);
        key = (await gateway.CreateKeyAsync("acme", new { name = "k", customerId = "c" })).Str("key");
        var after = new List<HttpStatusCode>();
        for (var i = 0; i < 10; i++)
        {
            after.Add(await gateway.StatusAsync(key));
        }

        Assert.That(after, Has.No.Member(HttpStatusCode.InternalServerError).And.No.Member(HttpStatusCode.ServiceUnavailable));
        Assert.That(after.Count(s => s == HttpStatusCode.OK), Is.EqualTo(2), "6 before, 2 during the outage, 2 after: the month did not start over");
        Assert.That(counter.OnFallback, Is.False);
        var month = DateTimeOffset.UtcNow.ToString("yyyyMM", System.Globalization.CultureInfo.InvariantCulture);
        var stored = await multiplexer.GetDatabase().StringGetAsync($"gw:q:{{q:acme:c:m{month}}}");
        Assert.That((long)stored, Is.EqualTo(10), "the restarted Redis holds the whole count: restored, plus the outage's admissions");
    }

    [Test]
    public async Task Leases_TypicalRequests_DecidedWithoutARedisTrip()
    {
        await using var gateway = await GatewayHost.StartAsync(Settings(), store: StoreKind.Redis);
        await gateway.CreateOrgAsync("acme");
        await gateway.AdminPostAsync("admin/orgs/acme/customers", new { id = "c", name = "C", quota = new { limit = 1_000_000, period = "month" } }, expected: 201);
        var key = (await gateway.CreateKeyAsync("acme", new { name = "k", customerId = "c", credits = new { remaining = 1_000_000 } })).Str("key");
        var counter = (Gateway.RateLimiting.RedisQuotaCounter)gateway.Services.GetService(typeof(Gateway.RateLimiting.IQuotaCounter))!;

        for (var i = 0; i < 300; i++)
        {
            Assert.That(await gateway.StatusAsync(key), Is.EqualTo(HttpStatusCode.OK));
        }

        // Leases double while trips come less than a second apart: 1, 2, 4, ... per counter (two counters here).
        Assert.That(counter.Trips, Is.LessThanOrEqualTo(40), "most of 300 requests were decided from leases");
    }

    [Test]
    public async Task Leases_OfEndedPeriods_AreForgotten()
    {
        var clock = new Microsoft.Extensions.Time.Testing.FakeTimeProvider(DateTimeOffset.UtcNow);
        await using var gateway = await GatewayHost.StartAsync(Settings(), s => s.AddSingleton<TimeProvider>(clock), store: StoreKind.Redis);
        await gateway.CreateOrgAsync("acme");
        await gateway.AdminPostAsync("admin/orgs/acme/customers", new { id = "c", name = "C", quota = new { limit = 1000, period = "month" } }, expected: 201);
        var key = (await gateway.CreateKeyAsync("acme", new { name = "k", customerId = "c", credits = new { remaining = 100, refill = new { amount = 100, period = "day" } } })).Str("key");
        var counter = (Gateway.RateLimiting.RedisQuotaCounter)gateway.Services.GetService(typeof(Gateway.RateLimiting.IQuotaCounter))!;
        Assert.That(await gateway.StatusAsync(key), Is.EqualTo(HttpStatusCode.OK));
        Assert.That(counter.LeaseCount, Is.EqualTo(2), "this month's quota, today's credits");

        // Past the month, the day and their day of margin: the next trip forgets the ended counters' leases.
        clock.Advance(TimeSpan.FromDays(40));
        Assert.That(await gateway.StatusAsync(key), Is.EqualTo(HttpStatusCode.OK));
        Assert.That(counter.LeaseCount, Is.EqualTo(2), "only the new periods' counters, not four");
    }

    private Dictionary<string, string?> Settings() => GatewayHost.Routes(Upstream.Url, ("api", "/api/{**rest}", []));
}
