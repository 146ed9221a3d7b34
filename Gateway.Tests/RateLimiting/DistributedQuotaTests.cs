using System.Net;
using System.Net.Http.Json;
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
    public async Task SmallKeyLimit_QuotaRefusesOnThreeInstances_QuotaExceededEverywhere_RaisedQuotaAdmitsTheKeysLimit()
    {
        // A key limit of 5 is a shared counter: the permit a quota-refused request took must go back to Redis, not
        // to the refusing instance's lease, or the third instance finds the key's 5 used after 3 admitted and answers
        // rate_limited (Retry-After of the key's window) while the quota is what refuses.
        var prefix = $"t{Guid.NewGuid():N}:";
        var settings = Settings();
        settings["Gateway:Cache:FreshFor"] = "00:00:00.001"; // every instance sees the PATCHed quota at once
        await using var a = await GatewayHost.StartAsync(settings, store: StoreKind.Redis, redisPrefix: prefix);
        await using var b = await GatewayHost.StartAsync(settings, store: StoreKind.Redis, redisPrefix: prefix);
        await using var c = await GatewayHost.StartAsync(settings, store: StoreKind.Redis, redisPrefix: prefix);
        GatewayHost[] gateways = [a, b, c];
        await a.CreateOrgAsync("acme");
        await a.AdminPostAsync("admin/orgs/acme/customers", new { id = "c", name = "C", quota = new { limit = 3, period = "month" } }, expected: 201);
        var key = (await a.CreateKeyAsync("acme", new { name = "k", customerId = "c", rateLimit = new { permitLimit = 5, window = "00:05:00" } })).Str("key");

        for (var i = 0; i < 3; i++)
        {
            Assert.That(await gateways[i % 3].StatusAsync(key), Is.EqualTo(HttpStatusCode.OK), $"request {i} on {"ABC"[i % 3]}");
        }

        var refusals = new List<string>();
        for (var i = 3; i < 12; i++)
        {
            refusals.Add($"{"ABC"[i % 3]}: {await gateways[i % 3].CodeAsync(key)}");
        }

        Assert.That(refusals, Is.All.EndsWith("quota_exceeded"), "the quota refuses, on every instance; 3 of the key's 5 permits are used");

        using (var patch = await a.Admin.PatchAsJsonAsync("admin/orgs/acme/customers/c", new { quota = new { limit = 10, period = "month" } }))
        {
            await a.Expect(patch, 200);
        }

        // The key's limit binds now: exactly its 2 permits left, taken on C and A, then rate_limited everywhere.
        var after = new List<string>();
        for (var i = 2; i < 8; i++)
        {
            using var response = await gateways[i % 3].CallAsync("/api/x", key);
            after.Add($"{"ABC"[i % 3]}: {(response.StatusCode == HttpStatusCode.OK ? "ok" : (await GatewayHost.ProblemAsync(response))["code"]!.GetValue<string>())}");
        }

        Assert.That(after, Is.EqualTo(new[] { "C: ok", "A: ok", "B: rate_limited", "C: rate_limited", "A: rate_limited", "B: rate_limited" }));
    }

    [Test]
    public async Task SmallKeyLimit_CustomerLimitRefusesOnThreeInstances_KeyPermitsOfTheTripGoBackToRedis()
    {
        // All or nothing among the rate limits: a trip that brings a permit of the key's limit of 5 for a request the
        // customer's limit then refuses must give it back to Redis. Kept in the instance's lease, the key's 5 read as
        // used on the others, which refused with the key's limit once the customer's was raised.
        var prefix = $"t{Guid.NewGuid():N}:";
        var settings = Settings();
        settings["Gateway:Cache:FreshFor"] = "00:00:00.001";
        await using var a = await GatewayHost.StartAsync(settings, store: StoreKind.Redis, redisPrefix: prefix);
        await using var b = await GatewayHost.StartAsync(settings, store: StoreKind.Redis, redisPrefix: prefix);
        await using var c = await GatewayHost.StartAsync(settings, store: StoreKind.Redis, redisPrefix: prefix);
        GatewayHost[] gateways = [a, b, c];
        await a.CreateOrgAsync("acme");
        await a.AdminPostAsync("admin/orgs/acme/customers", new { id = "c", name = "C", rateLimit = new { permitLimit = 3, window = "00:05:00" } }, expected: 201);
        var key = (await a.CreateKeyAsync("acme", new { name = "k", customerId = "c", rateLimit = new { permitLimit = 5, window = "00:05:00" } })).Str("key");

        async Task<string> OutcomeAsync(int i)
        {
            using var response = await gateways[i % 3].CallAsync("/api/x", key);
            if (response.StatusCode == HttpStatusCode.OK)
            {
                return $"{"ABC"[i % 3]}: ok";
            }

            var problem = await GatewayHost.ProblemAsync(response);
            return $"{"ABC"[i % 3]}: {problem["code"]!.GetValue<string>()} {problem["limit"]?.GetValue<string>()}";
        }

        var before = new List<string>();
        for (var i = 0; i < 6; i++)
        {
            before.Add(await OutcomeAsync(i));
        }

        Assert.That(before, Is.EqualTo(new[] { "A: ok", "B: ok", "C: ok", "A: rate_limited customer", "B: rate_limited customer", "C: rate_limited customer" }));

        using (var patch = await a.Admin.PatchAsJsonAsync("admin/orgs/acme/customers/c", new { rateLimit = new { permitLimit = 10, window = "00:05:00" } }))
        {
            await a.Expect(patch, 200);
        }

        var after = new List<string>();
        for (var i = 2; i < 6; i++)
        {
            after.Add(await OutcomeAsync(i));
        }

        Assert.That(after, Is.EqualTo(new[] { "C: ok", "A: ok", "B: rate_limited key", "C: rate_limited key" }), "the key's 2 permits left, taken on any instance");
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

    [Test]
    public async Task CreditsAddedAndSubtractedOnOtherInstances_HeadersAndVerifyShowTheBalance_RefusalsClaimNone()
    {
        // An add is stored as a lower count (below zero here): an instance that kept "the highest count it saw" went
        // on showing the balance before the add (10 plus what it held), on every instance, for good.
        var prefix = $"t{Guid.NewGuid():N}:";
        await using var a = await GatewayHost.StartAsync(Settings(), store: StoreKind.Redis, redisPrefix: prefix);
        await using var b = await GatewayHost.StartAsync(Settings(), store: StoreKind.Redis, redisPrefix: prefix);
        await using var c = await GatewayHost.StartAsync(Settings(), store: StoreKind.Redis, redisPrefix: prefix);
        await a.CreateOrgAsync("acme");
        var created = await a.CreateKeyAsync("acme", new { name = "prepaid", credits = new { remaining = 10 } });
        var (key, id) = (created.Str("key"), created.Str("id"));
        Assert.That(await CreditsHeaderAsync(a, key), Is.EqualTo(9));

        // 59 after the add: 64 or fewer left, so every grant is just the request's cost and no instance holds
        // any ahead; each number below is then exact.
        var added = await b.AdminPostAsync($"admin/keys/{id}/credits", new { op = "add", amount = 50 });
        Assert.That(added["credits"]!["remaining"]!.GetValue<long>(), Is.EqualTo(59));
        var seen = new List<long>();
        for (var i = 0; i < 35; i++)
        {
            seen.Add(await CreditsHeaderAsync(a, key));
        }

        Assert.That(seen, Is.EqualTo(Enumerable.Range(0, 35).Select(i => 58L - i)), "A counts down from the balance after B's add");
        Assert.That((await c.AdminGetAsync($"admin/keys/{id}"))["credits"]!["remaining"]!.GetValue<long>(), Is.EqualTo(24));
        Assert.That(await CreditsHeaderAsync(b, key), Is.EqualTo(23));
        Assert.That(await CreditsHeaderAsync(c, key), Is.EqualTo(22));
        Assert.That(await VerifiedCreditsAsync(a, key), Is.EqualTo(22), "verify on A (uncharged)");
        Assert.That(await VerifiedCreditsAsync(b, key), Is.EqualTo(22), "verify on B (uncharged)");

        var subtracted = await c.AdminPostAsync($"admin/keys/{id}/credits", new { op = "subtract", amount = 10 });
        Assert.That(subtracted["credits"]!["remaining"]!.GetValue<long>(), Is.EqualTo(12));
        Assert.That(await CreditsHeaderAsync(a, key), Is.EqualTo(11));
        Assert.That(await CreditsHeaderAsync(b, key), Is.EqualTo(10));

        // The last 10 under concurrent load on A and B: exactly 10 admitted, and no refusal claims a credit left.
        var admitted = 0;
        var refusals = new System.Collections.Concurrent.ConcurrentBag<string>();
        await Task.WhenAll(Enumerable.Range(0, 8).Select(async client =>
        {
            var gateway = client % 2 == 0 ? a : b;
            for (var i = 0; i < 4; i++)
            {
                using var response = await gateway.CallAsync("/api/x", key);
                if (response.StatusCode == HttpStatusCode.OK)
                {
                    Interlocked.Increment(ref admitted);
                    continue;
                }

                Assert.That((await GatewayHost.ProblemAsync(response))["code"]!.GetValue<string>(), Is.EqualTo("credits_exhausted"));
                refusals.Add(response.Headers.GetValues("X-Credits-Remaining").Single());
            }
        }));

        Assert.That(admitted, Is.EqualTo(10));
        Assert.That(refusals, Has.Count.EqualTo(22).And.All.EqualTo("0"));
        Assert.That((await a.AdminGetAsync($"admin/keys/{id}"))["credits"]!["remaining"]!.GetValue<long>(), Is.Zero);
    }

    [Test]
    public async Task CreditsSubtractedOnAnotherInstance_AnInstanceHandingOutALease_ShowsItWithinASecond()
    {
        // An instance busy on a lease makes no trip until the lease is used up, so without a look at the counter
        // its header kept the balance from before another instance's subtract for as long as the lease lasted.
        var prefix = $"t{Guid.NewGuid():N}:";
        var clock = new Microsoft.Extensions.Time.Testing.FakeTimeProvider(DateTimeOffset.UtcNow);
        await using var a = await GatewayHost.StartAsync(Settings(), s => s.AddSingleton<TimeProvider>(clock), store: StoreKind.Redis, redisPrefix: prefix);
        await using var b = await GatewayHost.StartAsync(Settings(), store: StoreKind.Redis, redisPrefix: prefix);
        await a.CreateOrgAsync("acme");
        var created = await a.CreateKeyAsync("acme", new { name = "prepaid", credits = new { remaining = 100_000 } });
        var (key, id) = (created.Str("key"), created.Str("id"));

        // Only A spends, so A's header less the admin API's balance is what A holds: build up at least 20.
        long header = 0;
        for (var i = 0; i < 300; i++)
        {
            header = await CreditsHeaderAsync(a, key);
            if (header - AdminBalance(await b.AdminGetAsync($"admin/keys/{id}")) >= 20)
            {
                break;
            }
        }

        Assert.That(header - AdminBalance(await b.AdminGetAsync($"admin/keys/{id}")), Is.GreaterThanOrEqualTo(20), "A holds a lease of 20 or more");
        await b.AdminPostAsync($"admin/keys/{id}/credits", new { op = "subtract", amount = 100 });
        clock.Advance(TimeSpan.FromSeconds(2));

        // Fewer requests than A holds, so none of them needs a trip: only a look at the counter can show the subtract.
        var sent = 0;
        var last = await Eventually.ValueAsync(
            async () =>
            {
                sent++;
                return await CreditsHeaderAsync(a, key);
            },
            value => value == header - 100 - sent || sent >= 15,
            TimeSpan.FromSeconds(10));
        Assert.That(last, Is.EqualTo(header - 100 - sent), $"after {sent} requests on A");
        Assert.That(await CreditsHeaderAsync(a, key), Is.EqualTo(header - 100 - sent - 1));

        static long AdminBalance(System.Text.Json.Nodes.JsonObject key) => key["credits"]!["remaining"]!.GetValue<long>();
    }

    private static async Task<long> CreditsHeaderAsync(GatewayHost gateway, string key)
    {
        using var response = await gateway.CallAsync("/api/x", key);
        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        return long.Parse(response.Headers.GetValues("X-Credits-Remaining").Single(), System.Globalization.CultureInfo.InvariantCulture);
    }

    private static async Task<long> VerifiedCreditsAsync(GatewayHost gateway, string key)
    {
        using var response = await gateway.Admin.PostAsJsonAsync("v1/keys/verify", new { key });
        await gateway.Expect(response, 200);
        var body = (await response.Content.ReadFromJsonAsync<System.Text.Json.Nodes.JsonObject>())!;
        Assert.That(body["valid"]!.GetValue<bool>(), Is.True);
        return body["credits"]!["remaining"]!.GetValue<long>();
    }

    private Dictionary<string, string?> Settings() => GatewayHost.Routes(Upstream.Url, ("api", "/api/{**rest}", []));
}
