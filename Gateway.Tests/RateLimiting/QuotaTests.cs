using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Gateway.Configuration;
using Gateway.Tests.Common;
using Gateway.Tests.Operators;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace Gateway.Tests.RateLimiting;

/// <summary>Customers, plans, quotas and credits end to end, on both stores.</summary>
[TestFixtureSource(typeof(StoreKinds), nameof(StoreKinds.All))]
public sealed class QuotaTests(StoreKind store) : UpstreamFixture
{
    private GatewayHost _gateway = null!;

    [SetUp]
    public async Task StartAsync()
    {
        _gateway = await GatewayHost.StartAsync(Settings(), store: store);
        await _gateway.CreateOrgAsync("acme");
    }

    [TearDown]
    public async Task StopAsync() => await _gateway.DisposeAsync();

    [Test]
    public async Task Quota_SharedByTheCustomersKeys_429QuotaExceededWithRetryAfterToMonthEnd_OtherKeysUnaffected()
    {
        await CreateCustomerAsync(new { id = "cust-1", name = "Customer 1", plan = "free" });
        var k1 = (await _gateway.CreateKeyAsync("acme", new { name = "k1", customerId = "cust-1" })).Str("key");
        var k2 = (await _gateway.CreateKeyAsync("acme", new { name = "k2", customerId = "cust-1" })).Str("key");
        var other = (await _gateway.CreateKeyAsync("acme", new { name = "other", customerId = "not-registered" })).Str("key");

        for (var i = 0; i < 5; i++)
        {
            using var ok = await _gateway.CallAsync("/api/x", i % 2 == 0 ? k1 : k2);
            Assert.That(ok.StatusCode, Is.EqualTo(HttpStatusCode.OK));
            Assert.That(ok.Headers.GetValues("X-Quota-Limit").Single(), Is.EqualTo("5"));
            Assert.That(ok.Headers.GetValues("X-Quota-Remaining").Single(), Is.EqualTo((4 - i).ToString(CultureInfo.InvariantCulture)));
        }

        using var refused = await _gateway.CallAsync("/api/x", k2);
        Assert.That(refused.StatusCode, Is.EqualTo(HttpStatusCode.TooManyRequests));
        Assert.That((await GatewayHost.ProblemAsync(refused))["code"]!.GetValue<string>(), Is.EqualTo("quota_exceeded"));
        var now = DateTimeOffset.UtcNow;
        var monthEnd = new DateTimeOffset(now.Year, now.Month, 1, 0, 0, 0, TimeSpan.Zero).AddMonths(1);
        Assert.That(refused.Headers.RetryAfter!.Delta!.Value.TotalSeconds, Is.EqualTo((monthEnd - now).TotalSeconds).Within(10));
        Assert.That(long.Parse(refused.Headers.GetValues("X-Quota-Reset").Single(), CultureInfo.InvariantCulture), Is.EqualTo((monthEnd - now).TotalSeconds).Within(10));
        Assert.That(refused.Headers.GetValues("X-Quota-Remaining").Single(), Is.EqualTo("0"));

        // An unregistered customer id is only stamped: no quota, no quota headers.
        using var unaffected = await _gateway.CallAsync("/api/x", other);
        Assert.That(unaffected.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        Assert.That(unaffected.Headers.Contains("X-Quota-Limit"), Is.False);

        var usage = await _gateway.AdminGetAsync("admin/orgs/acme/customers/cust-1/usage");
        Assert.That(usage["quota"]!["used"]!.GetValue<long>(), Is.EqualTo(5));
        Assert.That(usage["quota"]!["remaining"]!.GetValue<long>(), Is.EqualTo(0));
        Assert.That(usage["quota"]!["period"]!.GetValue<string>(), Is.EqualTo("month"));
        Assert.That(usage["customerId"]!.GetValue<string>(), Is.EqualTo("cust-1"));
    }

    [Test]
    public async Task Quota_CustomersOwnQuotaOverridesPlan_RaisingItKeepsWhatWasCounted()
    {
        await CreateCustomerAsync(new { id = "c2", name = "C2", plan = "free", quota = new { limit = 2, period = "day" } });
        var key = (await _gateway.CreateKeyAsync("acme", new { name = "k", customerId = "c2" })).Str("key");
        Assert.That(await _gateway.StatusAsync(key), Is.EqualTo(HttpStatusCode.OK));
        Assert.That(await _gateway.StatusAsync(key), Is.EqualTo(HttpStatusCode.OK));
        Assert.That(await _gateway.CodeAsync(key), Is.EqualTo("quota_exceeded"));

        using var patch = await _gateway.Admin.PatchAsJsonAsync("admin/orgs/acme/customers/c2", new { quota = new { limit = 3, period = "day" } });
        Assert.That(patch.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        Assert.That(await _gateway.StatusAsync(key), Is.EqualTo(HttpStatusCode.OK), "one more, not three: the count was kept");
        Assert.That(await _gateway.CodeAsync(key), Is.EqualTo("quota_exceeded"));
    }

    [Test]
    public async Task Quota_LoweredBelowWhatWasCounted_UsageReportsTheRealCount_RaisedAdmitsTheDifference()
    {
        await CreateCustomerAsync(new { id = "c8", name = "C8", quota = new { limit = 100, period = "month" } });
        var key = (await _gateway.CreateKeyAsync("acme", new { name = "k", customerId = "c8" })).Str("key");
        for (var i = 0; i < 30; i++)
        {
            Assert.That(await _gateway.StatusAsync(key), Is.EqualTo(HttpStatusCode.OK));
        }

        await PatchQuotaAsync(20);
        var lowered = (await _gateway.AdminGetAsync("admin/orgs/acme/customers/c8/usage"))["quota"]!;
        Assert.That(lowered["limit"]!.GetValue<long>(), Is.EqualTo(20));
        Assert.That(lowered["remaining"]!.GetValue<long>(), Is.Zero);
        if (store == StoreKind.Sqlite)
        {
            Assert.That(lowered["used"]!.GetValue<long>(), Is.EqualTo(30), "what was counted, not the new limit");
        }
        else
        {
            // On Redis the count includes what the instance leased ahead of use, until its next trip gives it back.
            Assert.That(lowered["used"]!.GetValue<long>(), Is.GreaterThanOrEqualTo(30), "what was counted, not the new limit");
        }

        using (var refused = await _gateway.CallAsync("/api/x", key))
        {
            Assert.That((await GatewayHost.ProblemAsync(refused))["code"]!.GetValue<string>(), Is.EqualTo("quota_exceeded"));
            Assert.That(refused.Headers.GetValues("X-Quota-Remaining").Single(), Is.EqualTo("0"));
        }

        var used = (await _gateway.AdminGetAsync("admin/orgs/acme/customers/c8/usage"))["quota"]!;
        Assert.That(used["used"]!.GetValue<long>(), Is.EqualTo(30), "30 admitted, whatever the limit now");
        Assert.That(used["remaining"]!.GetValue<long>(), Is.Zero);

        await PatchQuotaAsync(40);
        Assert.That(await AdmittedUntilQuotaExceededAsync(key, max: 15), Is.EqualTo(10), "the raised quota less the 30 counted");
        var raised = (await _gateway.AdminGetAsync("admin/orgs/acme/customers/c8/usage"))["quota"]!;
        Assert.That(raised["used"]!.GetValue<long>(), Is.EqualTo(40));
        Assert.That(raised["remaining"]!.GetValue<long>(), Is.Zero);

        async Task PatchQuotaAsync(int limit)
        {
            using var patch = await _gateway.Admin.PatchAsJsonAsync("admin/orgs/acme/customers/c8", new { quota = new { limit, period = "month" } });
            Assert.That(patch.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        }
    }

    [Test]
    public async Task CostZero_AdmittedWithQuotaOrCreditsUsedUp_VerifyAlike_TheRateLimitStillApplies()
    {
        await CreateCustomerAsync(new { id = "c0", name = "C0", plan = "free" });
        var prepaid = (await _gateway.CreateKeyAsync("acme", new { name = "prepaid", credits = new { remaining = 1 } })).Str("key");
        var metered = (await _gateway.CreateKeyAsync("acme", new { name = "metered", customerId = "c0" })).Str("key");
        var limited = (await _gateway.CreateKeyAsync("acme", new { name = "limited", rateLimit = new { permitLimit = 1, window = "00:10:00" } })).Str("key");

        Assert.That(await _gateway.StatusAsync(prepaid, "/api/x"), Is.EqualTo(HttpStatusCode.OK));
        Assert.That(await _gateway.CodeAsync(prepaid, "/api/x"), Is.EqualTo("credits_exhausted"));
        using (var free = await _gateway.CallAsync("/free/x", prepaid))
        {
            Assert.That(free.StatusCode, Is.EqualTo(HttpStatusCode.OK), "a free route is not refused by used-up credits");
            Assert.That(free.Headers.GetValues("X-Credits-Remaining").Single(), Is.EqualTo("0"));
        }

        for (var i = 0; i < 5; i++)
        {
            Assert.That(await _gateway.StatusAsync(metered, "/api/x"), Is.EqualTo(HttpStatusCode.OK));
        }

        Assert.That(await _gateway.CodeAsync(metered, "/api/x"), Is.EqualTo("quota_exceeded"));
        using (var free = await _gateway.CallAsync("/free/x", metered))
        {
            Assert.That(free.StatusCode, Is.EqualTo(HttpStatusCode.OK), "a free route is not refused by a used-up quota");
            Assert.That(free.Headers.GetValues("X-Quota-Remaining").Single(), Is.EqualTo("0"));
        }

        using var verifier = await _gateway.OperatorAsync("free-verifier", "verifier", "acme");
        foreach (var key in new[] { prepaid, metered })
        {
            using var verified = await verifier.PostAsJsonAsync("v1/keys/verify", new { key, cost = 0, charge = true });
            var answer = await verified.Content.ReadAsStringAsync();
            Assert.That(JsonNode.Parse(answer)!["valid"]!.GetValue<bool>(), Is.True, "a verify call with cost 0 alike: " + answer);
        }

        Assert.That(await _gateway.StatusAsync(limited, "/free/x"), Is.EqualTo(HttpStatusCode.OK));
        Assert.That(await _gateway.CodeAsync(limited, "/free/x"), Is.EqualTo("rate_limited"), "free is not unlimited");
    }

    [Test]
    public async Task Credits_RouteCost_429CreditsExhaustedWithoutRetryAfter_AdminAddSubtractSetAudited()
    {
        var created = await _gateway.CreateKeyAsync("acme", new { name = "prepaid", credits = new { remaining = 5 } });
        var key = created.Str("key");
        var id = created.Str("id");
        Assert.That(created["credits"]!["remaining"]!.GetValue<long>(), Is.EqualTo(5));

        using (var first = await _gateway.CallAsync("/costly/x", key))
        {
            Assert.That(first.StatusCode, Is.EqualTo(HttpStatusCode.OK));
            Assert.That(first.Headers.GetValues("X-Credits-Remaining").Single(), Is.EqualTo("2"));
        }

        using (var refused = await _gateway.CallAsync("/costly/x", key))
        {
            Assert.That(refused.StatusCode, Is.EqualTo(HttpStatusCode.TooManyRequests));
            Assert.That((await GatewayHost.ProblemAsync(refused))["code"]!.GetValue<string>(), Is.EqualTo("credits_exhausted"));
            Assert.That(refused.Headers.RetryAfter, Is.Null, "no refill: waiting does not help");
            Assert.That(refused.Headers.GetValues("X-Credits-Remaining").Single(), Is.EqualTo("2"));
        }

        Assert.That((await _gateway.AdminGetAsync($"admin/keys/{id}"))["credits"]!["remaining"]!.GetValue<long>(), Is.EqualTo(2), "a refused request costs nothing");

        var added = await _gateway.AdminPostAsync($"admin/keys/{id}/credits", new { op = "add", amount = 4 });
        Assert.That(added["credits"]!["remaining"]!.GetValue<long>(), Is.EqualTo(6));
        Assert.That(await _gateway.StatusAsync(key, "/costly/x"), Is.EqualTo(HttpStatusCode.OK));
        var subtracted = await _gateway.AdminPostAsync($"admin/keys/{id}/credits", new { op = "subtract", amount = 2 });
        Assert.That(subtracted["credits"]!["remaining"]!.GetValue<long>(), Is.EqualTo(1));
        Assert.That(await _gateway.StatusAsync(key, "/api/x"), Is.EqualTo(HttpStatusCode.OK), "a route without Cost costs 1");
        Assert.That(await _gateway.CodeAsync(key, "/api/x"), Is.EqualTo("credits_exhausted"));

        var set = await _gateway.AdminPostAsync($"admin/keys/{id}/credits", new { op = "set", amount = 1 });
        Assert.That(set["credits"]!["remaining"]!.GetValue<long>(), Is.EqualTo(1));
        Assert.That(await _gateway.StatusAsync(key, "/api/x"), Is.EqualTo(HttpStatusCode.OK));

        var audit = await _gateway.AdminGetAsync("admin/audit?org=acme");
        var credits = audit["items"]!.AsArray().Where(e => e!["action"]!.GetValue<string>() == "key.credits").ToList();
        Assert.That(credits, Has.Count.EqualTo(3));
        Assert.That(credits.Select(e => e!["changes"]!["op"]!["after"]!.GetValue<string>()), Is.EquivalentTo(new[] { "add", "subtract", "set" }));

        using var bad = await _gateway.Admin.PostAsJsonAsync($"admin/keys/{id}/credits", new { op = "double", amount = -1 });
        Assert.That(bad.StatusCode, Is.EqualTo(HttpStatusCode.BadRequest));

        // No balance above what set allows (10^12), and a refused add changes nothing.
        await _gateway.AdminPostAsync($"admin/keys/{id}/credits", new { op = "set", amount = 1_000_000_000_000 });
        using (var over = await _gateway.Admin.PostAsJsonAsync($"admin/keys/{id}/credits", new { op = "add", amount = 1 }))
        {
            Assert.That(over.StatusCode, Is.EqualTo(HttpStatusCode.BadRequest));
            Assert.That((await GatewayHost.ProblemAsync(over))["errors"]!.AsObject().Select(e => e.Key), Is.EqualTo(new[] { "amount" }));
        }

        Assert.That((await _gateway.AdminGetAsync($"admin/keys/{id}"))["credits"]!["remaining"]!.GetValue<long>(), Is.EqualTo(1_000_000_000_000));
    }

    // Retry-After tells a client that waiting that long helps: only a refill that covers the request's cost does.
    [TestCase(0, false)]
    [TestCase(2, false)]
    [TestCase(3, true)]
    public async Task CreditsExhausted_RetryAfterOnlyWhenTheRefillCoversTheCost(int refill, bool retryAfter)
    {
        var key = (await _gateway.CreateKeyAsync("acme", new { name = "metered", credits = new { remaining = 2, refill = new { amount = refill, period = "day" } } })).Str("key");

        using var refused = await _gateway.CallAsync("/costly/x", key);

        Assert.That(refused.StatusCode, Is.EqualTo(HttpStatusCode.TooManyRequests));
        Assert.That((await GatewayHost.ProblemAsync(refused))["code"]!.GetValue<string>(), Is.EqualTo("credits_exhausted"));
        Assert.That(refused.Headers.RetryAfter is not null, Is.EqualTo(retryAfter), $"a refill of {refill} against a cost of 3");
    }

    // A quota or credits refusal gives the rate limits their permits back: the headers say what is left, and the
    // refusal is counted in usage under its own code.
    [Test]
    public async Task QuotaAndCreditsRefusals_ReportThePermitsGivenBack_CountedInUsageUnderTheirCodes()
    {
        await CreateCustomerAsync(new { id = "c4", name = "C4", quota = new { limit = 1, period = "day" } });
        var quoted = await _gateway.CreateKeyAsync("acme", new { name = "quoted", customerId = "c4", rateLimit = new { permitLimit = 3, window = "00:10:00" } });
        var prepaid = await _gateway.CreateKeyAsync("acme", new { name = "prepaid", credits = new { remaining = 1 }, rateLimit = new { permitLimit = 3, window = "00:10:00" } });

        foreach (var (created, code) in new[] { (quoted, "quota_exceeded"), (prepaid, "credits_exhausted") })
        {
            using (var admitted = await _gateway.CallAsync("/api/x", created.Str("key")))
            {
                Assert.That(admitted.StatusCode, Is.EqualTo(HttpStatusCode.OK));
                Assert.That(admitted.Headers.GetValues("X-RateLimit-Limit").Single(), Is.EqualTo("3"), "the key's own limit is the tightest");
                Assert.That(admitted.Headers.GetValues("X-RateLimit-Remaining").Single(), Is.EqualTo("2"));
            }

            for (var i = 0; i < 2; i++)
            {
                using var refused = await _gateway.CallAsync("/api/x", created.Str("key"));
                Assert.That((await GatewayHost.ProblemAsync(refused))["code"]!.GetValue<string>(), Is.EqualTo(code));
                Assert.That(refused.Headers.GetValues("X-RateLimit-Remaining").Single(), Is.EqualTo("2"), $"{code}: the permit was given back");
            }

            var usage = await _gateway.AdminGetAsync($"admin/keys/{created.Str("id")}/usage?granularity=minute");
            Assert.That(usage["totals"]!["counts"]![code]?.GetValue<long>(), Is.EqualTo(2), $"{code} counted under its code");
            Assert.That(usage["totals"]!["total"]!.GetValue<long>(), Is.EqualTo(3));
            Assert.That(usage["outcomes"]!.AsArray().Select(o => o!.GetValue<string>()), Does.Contain(code));
        }
    }

    [Test]
    public async Task AllOrNothing_RefusedByCreditsOrRateLimit_ConsumesNothingOfTheOthers()
    {
        await CreateCustomerAsync(new { id = "c3", name = "C3", quota = new { limit = 10, period = "month" } });
        var empty = (await _gateway.CreateKeyAsync("acme", new { name = "empty", customerId = "c3", credits = new { remaining = 0 } })).Str("key");
        var limited = (await _gateway.CreateKeyAsync("acme", new { name = "limited", customerId = "c3", rateLimit = new { permitLimit = 1, window = "00:10:00" } })).Str("key");

        Assert.That(await _gateway.CodeAsync(empty), Is.EqualTo("credits_exhausted"));
        Assert.That(await _gateway.StatusAsync(limited), Is.EqualTo(HttpStatusCode.OK));
        Assert.That(await _gateway.CodeAsync(limited), Is.EqualTo("rate_limited"));
        Assert.That(await _gateway.CodeAsync(limited), Is.EqualTo("rate_limited"));

        var usage = await _gateway.AdminGetAsync("admin/orgs/acme/customers/c3/usage");
        Assert.That(usage["quota"]!["used"]!.GetValue<long>(), Is.EqualTo(1), "only the admitted request counts");
    }

    [Test]
    public async Task CustomerRateLimit_FromPlan_SharedByItsKeys()
    {
        await CreateCustomerAsync(new { id = "c4", name = "C4", plan = "pro" });
        var k1 = (await _gateway.CreateKeyAsync("acme", new { name = "k1", customerId = "c4" })).Str("key");
        var k2 = (await _gateway.CreateKeyAsync("acme", new { name = "k2", customerId = "c4" })).Str("key");
        Assert.That(await _gateway.StatusAsync(k1), Is.EqualTo(HttpStatusCode.OK));
        Assert.That(await _gateway.StatusAsync(k2), Is.EqualTo(HttpStatusCode.OK));
        using var refused = await _gateway.CallAsync("/api/x", k1);
        Assert.That(refused.StatusCode, Is.EqualTo(HttpStatusCode.TooManyRequests));
        Assert.That((await GatewayHost.ProblemAsync(refused))["limit"]!.GetValue<string>(), Is.EqualTo("customer"));
    }

    [Test]
    public async Task Customers_Crud_ValidationAndDeleteConflictWhileKeysAreActive()
    {
        var created = await CreateCustomerAsync(new { id = "c5", name = "C5", plan = "free" });
        Assert.That(created["plan"]!.GetValue<string>(), Is.EqualTo("free"));

        using (var dup = await _gateway.Admin.PostAsJsonAsync("admin/orgs/acme/customers", new { id = "c5", name = "again" }))
        {
            Assert.That(dup.StatusCode, Is.EqualTo(HttpStatusCode.Conflict));
        }

        using (var bad = await _gateway.Admin.PostAsJsonAsync("admin/orgs/acme/customers", new { id = "bad id!", name = "x", plan = "gold", quota = new { limit = 0, period = "week" } }))
        {
            Assert.That(bad.StatusCode, Is.EqualTo(HttpStatusCode.BadRequest));
            var problem = await GatewayHost.ProblemAsync(bad);
            Assert.That(problem["code"]!.GetValue<string>(), Is.EqualTo("invalid_request"));
            Assert.That(problem["errors"]!.AsObject().Select(e => e.Key), Is.SupersetOf(new[] { "id", "plan", "quota.limit", "quota.period" }));
        }

        // A quota without its period names it as missing, once; a null period is "not a string", once.
        using (var bad = await _gateway.Admin.PostAsJsonAsync("admin/orgs/acme/customers", new { id = "c6", name = "x", quota = new { limit = 5 } }))
        {
            var errors = (await GatewayHost.ProblemAsync(bad))["errors"]!.AsObject();
            Assert.That(errors.ToJsonString(), Is.EqualTo("{\"quota.period\":[\"Required.\"]}"));
        }

        using (var bad = await _gateway.Admin.PostAsJsonAsync("admin/orgs/acme/customers", new { id = "c6", name = "x", quota = new { limit = 5, period = (string?)null } }))
        {
            var errors = (await GatewayHost.ProblemAsync(bad))["errors"]!.AsObject();
            Assert.That(errors.ToJsonString(), Is.EqualTo("{\"quota.period\":[\"Must be a string.\"]}"));
        }

        // Dot segments match the id pattern, but no URL names them: such a customer could never be deleted.
        foreach (var dots in new[] { ".", ".." })
        {
            using var refused = await _gateway.Admin.PostAsJsonAsync("admin/orgs/acme/customers", new { id = dots, name = "dots" });
            Assert.That(refused.StatusCode, Is.EqualTo(HttpStatusCode.BadRequest), dots);
            Assert.That((await GatewayHost.ProblemAsync(refused))["errors"]!.AsObject().Select(e => e.Key), Is.EqualTo(new[] { "id" }));
        }

        Assert.That((await CreateCustomerAsync(new { id = "...", name = "three dots" }))["id"]!.GetValue<string>(), Is.EqualTo("..."), "not a dot segment");
        Assert.That((await _gateway.AdminGetAsync("admin/orgs/acme/customers/..."))["name"]!.GetValue<string>(), Is.EqualTo("three dots"));

        using (var noOrg = await _gateway.Admin.PostAsJsonAsync("admin/orgs/nope/customers", new { id = "c", name = "x" }))
        {
            Assert.That(noOrg.StatusCode, Is.EqualTo(HttpStatusCode.NotFound));
        }

        var list = await _gateway.AdminGetAsync("admin/orgs/acme/customers");
        Assert.That(list["items"]!.AsArray().Select(c => c!["id"]!.GetValue<string>()), Does.Contain("c5"));
        using (var patch = await _gateway.Admin.PatchAsJsonAsync("admin/orgs/acme/customers/c5", new { name = "Renamed", plan = (string?)null }))
        {
            var body = (await patch.Content.ReadFromJsonAsync<JsonObject>())!;
            Assert.That(body["name"]!.GetValue<string>(), Is.EqualTo("Renamed"));
            Assert.That(body["plan"], Is.Null);
        }

        var key = await _gateway.CreateKeyAsync("acme", new { name = "k", customerId = "c5" });
        using (var conflict = await _gateway.Admin.DeleteAsync("admin/orgs/acme/customers/c5"))
        {
            Assert.That(conflict.StatusCode, Is.EqualTo(HttpStatusCode.Conflict));
        }

        await _gateway.AdminPostAsync($"admin/keys/{key.Str("id")}/revoke");
        using (var deleted = await _gateway.Admin.DeleteAsync("admin/orgs/acme/customers/c5"))
        {
            Assert.That(deleted.StatusCode, Is.EqualTo(HttpStatusCode.NoContent));
        }

        using var gone = await _gateway.Admin.GetAsync("admin/orgs/acme/customers/c5");
        Assert.That(gone.StatusCode, Is.EqualTo(HttpStatusCode.NotFound));
    }

    [Test]
    public async Task Quota_SurvivesARestart_TheMonthDoesNotStartOver()
    {
        await CreateCustomerAsync(new { id = "c6", name = "C6", quota = new { limit = 5, period = "month" } });
        var key = (await _gateway.CreateKeyAsync("acme", new { name = "k", customerId = "c6" })).Str("key");
        for (var i = 0; i < 3; i++)
        {
            Assert.That(await _gateway.StatusAsync(key), Is.EqualTo(HttpStatusCode.OK));
        }

        var directory = _gateway.Directory;
        var prefix = _gateway.Services.GetService(typeof(Microsoft.Extensions.Options.IOptions<Gateway.Configuration.GatewayOptions>)) is Microsoft.Extensions.Options.IOptions<Gateway.Configuration.GatewayOptions> o ? o.Value.Store.RedisPrefix : null;
        await _gateway.StopForRestartAsync();
        _gateway = await GatewayHost.StartAsync(Settings(), directory: directory, store: store, redisPrefix: prefix);

        Assert.That(await _gateway.StatusAsync(key), Is.EqualTo(HttpStatusCode.OK));
        Assert.That(await _gateway.StatusAsync(key), Is.EqualTo(HttpStatusCode.OK));
        Assert.That(await _gateway.CodeAsync(key), Is.EqualTo("quota_exceeded"), "3 before the restart + 2 after = 5");
    }

    [Test]
    public async Task Customers_CreateUpdateDelete_AuditedWithActorAndChanges()
    {
        using (var create = new HttpRequestMessage(HttpMethod.Post, "admin/orgs/acme/customers") { Content = JsonContent.Create(new { id = "c10", name = "C10", plan = "free" }) })
        {
            create.Headers.Add("X-Admin-Actor", "alice@example.com");
            using var created = await _gateway.Admin.SendAsync(create);
            Assert.That(created.StatusCode, Is.EqualTo(HttpStatusCode.Created));
        }

        using (var patch = await _gateway.Admin.PatchAsJsonAsync("admin/orgs/acme/customers/c10", new { plan = "pro", quota = new { limit = 50, period = "day" } }))
        {
            Assert.That(patch.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        }

        using (var same = await _gateway.Admin.PatchAsJsonAsync("admin/orgs/acme/customers/c10", new { plan = "pro" }))
        {
            Assert.That(same.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        }

        using (var deleted = await _gateway.Admin.DeleteAsync("admin/orgs/acme/customers/c10"))
        {
            Assert.That(deleted.StatusCode, Is.EqualTo(HttpStatusCode.NoContent));
        }

        using (var missing = await _gateway.Admin.DeleteAsync("admin/orgs/acme/customers/c10"))
        {
            Assert.That(missing.StatusCode, Is.EqualTo(HttpStatusCode.NotFound));
        }

        var items = (await _gateway.AdminGetAsync("admin/audit?org=acme"))["items"]!.AsArray()
            .Where(e => e!["action"]!.GetValue<string>().StartsWith("customer.", StringComparison.Ordinal)).ToList();
        Assert.That(items.Select(e => e!["action"]!.GetValue<string>()), Is.EqualTo(new[] { "customer.delete", "customer.update", "customer.create" }), "newest first; the PATCH that changed nothing and the 404 are not audited");
        Assert.That(items.All(e => e!["keyId"] is null && e["orgId"]!.GetValue<string>() == "acme"), Is.True);
        Assert.That(items.All(e => e!["callerAddress"]!.GetValue<string>() == "127.0.0.1"), Is.True);

        var (delete, update, create2) = (items[0]!["changes"]!, items[1]!["changes"]!, items[2]!["changes"]!);
        Assert.That(items[2]!["actor"]!.GetValue<string>(), Is.EqualTo("alice@example.com"));
        Assert.That(create2["customerId"]!["before"], Is.Null);
        Assert.That(create2["customerId"]!["after"]!.GetValue<string>(), Is.EqualTo("c10"));
        Assert.That(create2["name"]!["after"]!.GetValue<string>(), Is.EqualTo("C10"));
        Assert.That(create2["plan"]!["after"]!.GetValue<string>(), Is.EqualTo("free"));

        Assert.That(items[1]!["actor"]!.GetValue<string>(), Is.EqualTo("admin"));
        Assert.That(update.AsObject().Select(p => p.Key), Is.EquivalentTo(new[] { "customerId", "plan", "quota" }), "the customer, and only what changed");
        Assert.That(update["customerId"]!["before"]!.GetValue<string>(), Is.EqualTo("c10"));
        Assert.That(update["plan"]!["before"]!.GetValue<string>(), Is.EqualTo("free"));
        Assert.That(update["plan"]!["after"]!.GetValue<string>(), Is.EqualTo("pro"));
        Assert.That(update["quota"]!["before"], Is.Null);
        Assert.That(update["quota"]!["after"]!["limit"]!.GetValue<long>(), Is.EqualTo(50));
        Assert.That(update["quota"]!["after"]!["period"]!.GetValue<string>(), Is.EqualTo("day"));

        Assert.That(delete["customerId"]!["before"]!.GetValue<string>(), Is.EqualTo("c10"));
        Assert.That(delete["customerId"]!["after"], Is.Null);
        Assert.That(delete["plan"]!["before"]!.GetValue<string>(), Is.EqualTo("pro"));

        var filtered = (await _gateway.AdminGetAsync("admin/audit?org=acme&action=customer.update"))["items"]!.AsArray();
        Assert.That(filtered, Has.Count.EqualTo(1));
    }

    [TestCase(10, 6, 8, 20)]
    [TestCase(1000, 600, 602, 700)]
    public async Task PlanQuotaChangedInSettings_AppliesWithoutRestart_KeepsWhatWasCounted(int limit, int used, int lowered, int raised)
    {
        ReloadPlanQuota(limit);
        await CreateCustomerAsync(new { id = "c7", name = "C7", plan = "metered" });
        var key = (await _gateway.CreateKeyAsync("acme", new { name = "k", customerId = "c7" })).Str("key");
        for (var i = 0; i < used; i++)
        {
            Assert.That(await _gateway.StatusAsync(key), Is.EqualTo(HttpStatusCode.OK));
        }

        if (store == StoreKind.Redis && limit > 64)
        {
            // The instance has leased units ahead of use: a lowered limit must not let it hand them out.
            Assert.That(await QuotaCounterAsync("c7"), Is.GreaterThan(lowered), "units leased beyond the lowered limit");
        }

        ReloadPlanQuota(lowered);
        Assert.That(await AdmittedUntilQuotaExceededAsync(key, max: lowered - used + 5), Is.EqualTo(lowered - used), "the lowered quota less what was counted");
        using (var refused = await _gateway.CallAsync("/api/x", key))
        {
            Assert.That(refused.Headers.GetValues("X-Quota-Limit").Single(), Is.EqualTo(lowered.ToString(CultureInfo.InvariantCulture)));
            Assert.That(refused.Headers.GetValues("X-Quota-Remaining").Single(), Is.EqualTo("0"));
        }

        ReloadPlanQuota(raised);
        Assert.That(await AdmittedUntilQuotaExceededAsync(key, max: raised - lowered + 5), Is.EqualTo(raised - lowered), "the raised quota less what was counted");
        var usage = await _gateway.AdminGetAsync("admin/orgs/acme/customers/c7/usage");
        Assert.That(usage["quota"]!["used"]!.GetValue<long>(), Is.EqualTo(raised));
        Assert.That(usage["quota"]!["limit"]!.GetValue<long>(), Is.EqualTo(raised));
    }

    [TestCase("Quota:Limit", "abc")]
    [TestCase("Quota:Limit", "10x")]
    [TestCase("RateLimit:PermitLimit", "abc")]
    public async Task PlanReloadedWithNonNumberValue_Refused_PreviousPlanStaysInForce(string setting, string value)
    {
        ReloadPlanQuota(2);
        await CreateCustomerAsync(new { id = "c11", name = "C11", plan = "metered" });
        var key = (await _gateway.CreateKeyAsync("acme", new { name = "k", customerId = "c11" })).Str("key");
        Assert.That(await _gateway.StatusAsync(key), Is.EqualTo(HttpStatusCode.OK));

        // The binder drops a dictionary entry it cannot convert: the plan would vanish and its customer go unlimited.
        var configuration = (IConfigurationRoot)_gateway.Services.GetRequiredService<IConfiguration>();
        configuration[$"Gateway:Plans:metered:{setting}"] = value;
        configuration.Reload();

        using (var last = await _gateway.CallAsync("/api/x", key))
        {
            Assert.That(last.StatusCode, Is.EqualTo(HttpStatusCode.OK));
            Assert.That(last.Headers.TryGetValues("X-Quota-Remaining", out var remaining) ? remaining.Single() : null, Is.EqualTo("0"), "the previous plan's quota");
        }

        Assert.That(await _gateway.CodeAsync(key), Is.EqualTo("quota_exceeded"));
        Assert.That(_gateway.Services.GetRequiredService<IOptionsMonitor<GatewayOptions>>().CurrentValue.Plans["metered"].Quota!.Limit, Is.EqualTo(2));
        Assert.That(_gateway.Errors, Does.Contain("Ignored a configuration reload").And.Contain($"Gateway:Plans:metered:{setting}"));
    }

    [Test]
    public async Task RateLimitedRequest_CarriesQuotaAndCreditsHeaders_ChargesNeither()
    {
        await CreateCustomerAsync(new { id = "c8", name = "C8", quota = new { limit = 10, period = "month" } });
        var created = await _gateway.CreateKeyAsync("acme", new { name = "k", customerId = "c8", rateLimit = new { permitLimit = 2, window = "00:10:00" }, credits = new { remaining = 7 } });
        var key = created.Str("key");
        Assert.That(await _gateway.StatusAsync(key), Is.EqualTo(HttpStatusCode.OK));
        Assert.That(await _gateway.StatusAsync(key), Is.EqualTo(HttpStatusCode.OK));

        for (var i = 0; i < 3; i++)
        {
            using var refused = await _gateway.CallAsync("/api/x", key);
            Assert.That(refused.StatusCode, Is.EqualTo(HttpStatusCode.TooManyRequests));
            Assert.That((await GatewayHost.ProblemAsync(refused))["code"]!.GetValue<string>(), Is.EqualTo("rate_limited"));
            Assert.That(refused.Headers.GetValues("X-Quota-Limit").Single(), Is.EqualTo("10"));
            Assert.That(refused.Headers.GetValues("X-Quota-Remaining").Single(), Is.EqualTo("8"), "what is left, not charged for the refusal");
            var now = DateTimeOffset.UtcNow;
            var monthEnd = new DateTimeOffset(now.Year, now.Month, 1, 0, 0, 0, TimeSpan.Zero).AddMonths(1);
            Assert.That(long.Parse(refused.Headers.GetValues("X-Quota-Reset").Single(), CultureInfo.InvariantCulture), Is.EqualTo((monthEnd - now).TotalSeconds).Within(10));
            Assert.That(refused.Headers.GetValues("X-Credits-Remaining").Single(), Is.EqualTo("5"));
            Assert.That(refused.Headers.GetValues("X-RateLimit-Remaining").Single(), Is.EqualTo("0"));
        }

        var usage = await _gateway.AdminGetAsync("admin/orgs/acme/customers/c8/usage");
        Assert.That(usage["quota"]!["used"]!.GetValue<long>(), Is.EqualTo(2), "refused requests consume none of the quota");
        Assert.That((await _gateway.AdminGetAsync($"admin/keys/{created.Str("id")}"))["credits"]!["remaining"]!.GetValue<long>(), Is.EqualTo(5), "nor of the credits");
    }

    [Test]
    public async Task RedisCounters_OfQuotaAndRefillingCredits_ExpireAfterTheirPeriod()
    {
        Assume.That(store, Is.EqualTo(StoreKind.Redis), "Redis keys only");
        await CreateCustomerAsync(new { id = "c9", name = "C9", quota = new { limit = 100, period = "month" } });
        var key = (await _gateway.CreateKeyAsync("acme", new { name = "k", customerId = "c9", credits = new { remaining = 50, refill = new { amount = 50, period = "day" } } })).Str("key");
        Assert.That(await _gateway.StatusAsync(key), Is.EqualTo(HttpStatusCode.OK));

        var now = DateTimeOffset.UtcNow;
        var monthEnd = new DateTimeOffset(now.Year, now.Month, 1, 0, 0, 0, TimeSpan.Zero).AddMonths(1);
        var dayEnd = new DateTimeOffset(now.Year, now.Month, now.Day, 0, 0, 0, TimeSpan.Zero).AddDays(1);
        var counters = await QuotaCounterKeysAsync();
        Assert.That(counters, Has.Length.EqualTo(2), "the customer's quota and the key's credits");
        using var redis = await ConnectionMultiplexer.ConnectAsync(RedisServer.Shared.ConnectionString);
        foreach (var counter in counters)
        {
            var ttl = await redis.GetDatabase().KeyTimeToLiveAsync(counter);
            Assert.That(ttl, Is.Not.Null, $"{counter} has an expiry");
            // The period is the name's last part ("m202612", "d20261206"); an id before it may start with either letter.
            var period = counter.ToString().TrimEnd('}').Split(':')[^1];
            var end = period.StartsWith('m') ? monthEnd : dayEnd;
            Assert.That(ttl!.Value.TotalSeconds, Is.EqualTo((end.AddDays(1) - now).TotalSeconds).Within(60), $"{counter}: the period's end and a day");
        }
    }

    // docs/admin-api.md: "remaining is the live balance ... not the amount last set", in every response with a key object.
    [Test]
    public async Task Credits_DeactivateActivateRotateResponses_ShowTheLiveBalanceAndLastUse()
    {
        var created = await _gateway.CreateKeyAsync("acme", new { name = "prepaid", credits = new { remaining = 10 } });
        var (key, id) = (created.Str("key"), created.Str("id"));
        for (var i = 0; i < 3; i++)
        {
            Assert.That(await _gateway.StatusAsync(key), Is.EqualTo(HttpStatusCode.OK));
        }

        var responses = new List<(string Call, JsonObject Body)>
        {
            ("deactivate", await _gateway.AdminPostAsync($"admin/keys/{id}/deactivate")),
            ("activate", await _gateway.AdminPostAsync($"admin/keys/{id}/activate")),
            ("rotate", await _gateway.AdminPostAsync($"admin/keys/{id}/rotate")),
            ("rotate with grace", await _gateway.AdminPostAsync($"admin/keys/{id}/rotate", new { gracePeriod = "00:10:00" })),
            ("get", await _gateway.AdminGetAsync($"admin/keys/{id}")),
        };

        Assert.Multiple(() =>
        {
            foreach (var (call, body) in responses)
            {
                Assert.That(body["credits"]!["remaining"]!.GetValue<long>(), Is.EqualTo(7), $"{call}: the live balance, not the 10 last set");
                Assert.That(body["lastUsedAt"], Is.Not.Null, $"{call}: the key was used");
            }
        });

        var rotated = responses.Last(r => r.Call.StartsWith("rotate", StringComparison.Ordinal)).Body.Str("key");
        using var next = await _gateway.CallAsync("/api/x", rotated);
        Assert.That(next.Headers.GetValues("X-Credits-Remaining").Single(), Is.EqualTo("6"), "the balance itself was kept");
    }

    [Test]
    public async Task RedisCredits_SetAfresh_OldCounterExpiresInADay_LiveOneKept()
    {
        Assume.That(store, Is.EqualTo(StoreKind.Redis), "Redis keys only");
        var created = await _gateway.CreateKeyAsync("acme", new { name = "prepaid", credits = new { remaining = 5 } });
        var (key, id) = (created.Str("key"), created.Str("id"));
        Assert.That(await _gateway.StatusAsync(key), Is.EqualTo(HttpStatusCode.OK));
        Assert.That(await TimesToLiveAsync(), Is.EqualTo(new TimeSpan?[] { null }), "credits without refill: kept while they are the key's");

        await _gateway.AdminPostAsync($"admin/keys/{id}/credits", new { op = "set", amount = 3 });
        Assert.That(await _gateway.StatusAsync(key), Is.EqualTo(HttpStatusCode.OK));
        var ttls = await TimesToLiveAsync();
        Assert.That(ttls, Has.Length.EqualTo(2));
        Assert.That(ttls.Count(t => t is null), Is.EqualTo(1), "the live counter");
        Assert.That(ttls.Single(t => t is not null)!.Value, Is.InRange(TimeSpan.FromHours(23), TimeSpan.FromDays(1)), "the replaced one goes after a day");

        using (var patch = await _gateway.Admin.PatchAsJsonAsync($"admin/keys/{id}", new { credits = new { remaining = 9 } }))
        {
            Assert.That(patch.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        }

        Assert.That(await _gateway.StatusAsync(key), Is.EqualTo(HttpStatusCode.OK));
        ttls = await TimesToLiveAsync();
        Assert.That(ttls, Has.Length.EqualTo(3));
        Assert.That(ttls.Count(t => t is null), Is.EqualTo(1), "a PATCH of the credits retires the counter it replaces too");
        Assert.That((await _gateway.AdminGetAsync($"admin/keys/{id}"))["credits"]!["remaining"]!.GetValue<long>(), Is.EqualTo(8));
    }

    private async Task<TimeSpan?[]> TimesToLiveAsync()
    {
        using var redis = await ConnectionMultiplexer.ConnectAsync(RedisServer.Shared.ConnectionString);
        var ttls = new List<TimeSpan?>();
        foreach (var counter in await QuotaCounterKeysAsync())
        {
            ttls.Add(await redis.GetDatabase().KeyTimeToLiveAsync(counter));
        }

        return [.. ttls];
    }

    private void ReloadPlanQuota(int limit)
    {
        var configuration = (IConfigurationRoot)_gateway.Services.GetRequiredService<IConfiguration>();
        configuration["Gateway:Plans:metered:Quota:Limit"] = limit.ToString(CultureInfo.InvariantCulture);
        configuration["Gateway:Plans:metered:Quota:Period"] = "month";
        configuration.Reload();
        Assert.That(_gateway.Services.GetRequiredService<IOptionsMonitor<GatewayOptions>>().CurrentValue.Plans["metered"].Quota!.Limit, Is.EqualTo(limit));
    }

    private async Task<int> AdmittedUntilQuotaExceededAsync(string key, int max)
    {
        for (var admitted = 0; admitted < max; admitted++)
        {
            using var response = await _gateway.CallAsync("/api/x", key);
            if (response.StatusCode != HttpStatusCode.OK)
            {
                Assert.That((await GatewayHost.ProblemAsync(response))["code"]!.GetValue<string>(), Is.EqualTo("quota_exceeded"));
                return admitted;
            }
        }

        return max;
    }

    private string RedisPrefix => _gateway.Services.GetRequiredService<IOptions<GatewayOptions>>().Value.Store.RedisPrefix;

    private async Task<RedisKey[]> QuotaCounterKeysAsync()
    {
        using var redis = await ConnectionMultiplexer.ConnectAsync(RedisServer.Shared.ConnectionString);
        var server = redis.GetServers()[0];
        return server.Keys(pattern: RedisPrefix + "q:*").ToArray();
    }

    private async Task<long> QuotaCounterAsync(string customer)
    {
        var month = DateTimeOffset.UtcNow.ToString("yyyyMM", CultureInfo.InvariantCulture);
        using var redis = await ConnectionMultiplexer.ConnectAsync(RedisServer.Shared.ConnectionString);
        return (long)await redis.GetDatabase().StringGetAsync($"{RedisPrefix}q:{{q:acme:{customer}:m{month}}}");
    }

    private async Task<JsonObject> CreateCustomerAsync(object body) => await _gateway.AdminPostAsync("admin/orgs/acme/customers", body, expected: 201);

    private Dictionary<string, string?> Settings()
    {
        var config = GatewayHost.Routes(Upstream.Url, ("api", "/api/{**rest}", []), ("costly", "/costly/{**rest}", [("Cost", "3")]), ("free", "/free/{**rest}", [("Cost", "0")]));
        config["Gateway:Plans:free:Quota:Limit"] = "5";
        config["Gateway:Plans:free:Quota:Period"] = "month";
        config["Gateway:Plans:pro:RateLimit:PermitLimit"] = "2";
        config["Gateway:Plans:pro:RateLimit:Window"] = "00:10:00";
        config["Gateway:Plans:pro:Quota:Limit"] = "100000";
        config["Gateway:Plans:pro:Quota:Period"] = "month";
        return config;
    }
}
