using System.Net;
using System.Text.Json.Nodes;
using Gateway.Tests.Common;
using Gateway.Usage;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;
using WireMock.RequestBuilders;
using WireMock.ResponseBuilders;

namespace Gateway.Tests.Usage;

/// <summary>
/// Usage counting end to end on each store: real requests through the proxy, counts read back through the
/// admin API and straight from the store. The periodic flush is an hour away, so only explicit flushes
/// (and the shutdown flush) write; time is a fake clock.
/// </summary>
[TestFixtureSource(typeof(StoreKinds), nameof(StoreKinds.All))]
[NonParallelizable]
public sealed class UsageApiTests(StoreKind store) : GatewayFixture(store)
{
    private readonly FakeTimeProvider _time = new(Floor(DateTimeOffset.UtcNow, TimeSpan.FromHours(1)).AddMinutes(10));
    private CountingUsageStore _usageStore = null!;

    [OneTimeSetUp]
    public void MapUpstream()
    {
        Upstream.Server.ResetMappings();
        Upstream.Server.Given(Request.Create().WithPath("/api/boom").UsingAnyMethod()).AtPriority(1).RespondWith(Response.Create().WithStatusCode(503));
        Upstream.Server.Given(Request.Create().UsingAnyMethod()).AtPriority(10).RespondWith(Response.Create().WithStatusCode(200));
    }

    protected override string OrgPrefix => "u" + Store;

    protected override Dictionary<string, string?> Settings(string upstream)
    {
        var settings = GatewayHost.Routes(upstream, ("api", "/api/{**rest}", []), ("writes", "/writes/{**rest}", [("RequiredScopes", "write")]));
        settings["Gateway:Usage:FlushInterval"] = "01:00:00";
        settings["Gateway:Usage:CompactionInterval"] = "1000.00:00:00";
        return settings;
    }

    protected override void ConfigureServices(IServiceCollection services)
    {
        services.AddSingleton<TimeProvider>(_time);
        services.AddSingleton<IUsageStore>(sp => _usageStore = new CountingUsageStore(Store == StoreKind.Redis
            ? ActivatorUtilities.CreateInstance<RedisUsageStore>(sp)
            : ActivatorUtilities.CreateInstance<SqliteUsageStore>(sp)));
    }

    [Test]
    public async Task Usage_EachOutcome_CountedUnderItsKeyAndCode()
    {
        var org = await NewOrgAsync();
        var reader = await Host.CreateKeyAsync(org, new { name = "reader", scopes = new[] { "read" }, rateLimit = new { permitLimit = 4, window = "00:01:00" } });
        var revoked = await Host.CreateKeyAsync(org, new { name = "old" });
        await Host.AdminPostAsync($"admin/keys/{Id(revoked)}/revoke");

        for (var i = 0; i < 2; i++)
        {
            Assert.That(await Host.StatusAsync(Key(reader)), Is.EqualTo(HttpStatusCode.OK));
        }

        Assert.That(await Host.CodeAsync(Key(reader), "/writes/x"), Is.EqualTo("insufficient_scope"));
        Assert.That(await Host.StatusAsync(Key(reader), "/api/boom"), Is.EqualTo(HttpStatusCode.ServiceUnavailable));
        Assert.That(await Host.StatusAsync(Key(reader)), Is.EqualTo(HttpStatusCode.OK));
        Assert.That(await Host.CodeAsync(Key(reader)), Is.EqualTo("rate_limited"));
        Assert.That(await Host.CodeAsync(Key(revoked)), Is.EqualTo("key_revoked"));
        Assert.That(await Host.CodeAsync(Key(revoked)), Is.EqualTo("key_revoked"));

        await FlushAsync();
        var usage = await Host.AdminGetAsync($"admin/keys/{Id(reader)}/usage?granularity=minute");

        Assert.Multiple(() =>
        {
            Assert.That(Counts(usage["totals"]!), Is.EquivalentTo(new Dictionary<string, long>
            {
                ["allowed"] = 3,
                ["insufficient_scope"] = 1,
                ["upstream_5xx"] = 1,
                ["rate_limited"] = 1,
            }));
            Assert.That(usage["totals"]!["total"]!.GetValue<long>(), Is.EqualTo(6));
            Assert.That(usage.Str("keyId"), Is.EqualTo(Id(reader)));
            Assert.That(usage.Str("granularity"), Is.EqualTo("minute"));
            Assert.That(usage["intervals"]!.AsArray(), Has.Count.EqualTo(60), "every minute of the default hour, empty ones included");
            Assert.That(usage["intervals"]!.AsArray().Sum(i => i!["total"]!.GetValue<long>()), Is.EqualTo(6));
        });

        var orgUsage = await Host.AdminGetAsync($"admin/orgs/{org}/usage?granularity=hour");
        var keys = orgUsage["keys"]!.AsArray();
        Assert.Multiple(() =>
        {
            Assert.That(orgUsage["totals"]!["total"]!.GetValue<long>(), Is.EqualTo(8));
            Assert.That(keys.Select(k => k!.Str("name")), Is.EqualTo(new[] { "reader", "old", "default" }), "busiest key first");
            Assert.That(Counts(keys[1]!["usage"]!), Is.EquivalentTo(new Dictionary<string, long> { ["key_revoked"] = 2 }));
            Assert.That(keys[2]!["usage"]!["total"]!.GetValue<long>(), Is.Zero);
        });
    }

    [Test]
    public async Task Usage_UnknownAndMissingKeys_CountedByRoute()
    {
        var before = await RouteCountsAsync();
        await Host.CodeAsync("gw_live_" + new string('A', 38));
        await Host.CodeAsync(null, "/writes/x");
        await Host.CodeAsync(null, "/writes/x");

        await FlushAsync();
        var after = await RouteCountsAsync();

        Assert.Multiple(() =>
        {
            Assert.That(after.GetValueOrDefault(("api", "invalid_key")) - before.GetValueOrDefault(("api", "invalid_key")), Is.EqualTo(1));
            Assert.That(after.GetValueOrDefault(("writes", "missing_key")) - before.GetValueOrDefault(("writes", "missing_key")), Is.EqualTo(2));
        });
    }

    [Test]
    public async Task Flush_ManyRequests_OneStoreWriteNotOnePerRequest()
    {
        var org = await NewOrgAsync();
        var key = Key(await Host.CreateKeyAsync(org, new { name = "busy" }));
        await FlushAsync();
        var writesBefore = _usageStore.Writes;

        for (var i = 0; i < 40; i++)
        {
            Assert.That(await Host.StatusAsync(key), Is.EqualTo(HttpStatusCode.OK));
        }

        Assert.That(_usageStore.Writes, Is.EqualTo(writesBefore), "requests only touch in-memory counters");
        var stored = await StoredAsync(org);
        Assert.That(stored, Is.Zero, "nothing is in the store before a flush");

        await FlushAsync();

        Assert.That(_usageStore.Writes, Is.EqualTo(writesBefore + 1), "one batch for all 40 requests");
        Assert.That(await StoredAsync(org), Is.EqualTo(40));
    }

    [Test]
    public async Task Flush_SameMinuteTwice_CountsAddUp_OnRedisTheHashIsIndexedOnceEveryTenMinutes()
    {
        // Ten minutes into an hour of its own, so the ten minutes after are in the same hour.
        var now = _time.GetUtcNow();
        _time.Advance(Floor(now, TimeSpan.FromHours(1)).AddHours(1).AddMinutes(10) - now);
        var org = await NewOrgAsync();
        var created = await Host.CreateKeyAsync(org, new { name = "twice" });
        await Host.StatusAsync(Key(created));
        await FlushAsync();
        await Host.StatusAsync(Key(created));
        await Host.StatusAsync(Key(created));
        await FlushAsync();
        Assert.That(await StoredAsync(org), Is.EqualTo(3), "two flushes of one minute add up");
        if (Store != StoreKind.Redis)
        {
            return;
        }

        // Redis lost the hash and its place in the index: flushes within ten minutes of the hash's last full write (this
        // process's first, at 10:10) write its counts and nothing else; the first flush ten minutes on indexes it again.
        var db = Host.Services.GetRequiredService<StackExchange.Redis.IConnectionMultiplexer>().GetDatabase();
        var root = new Gateway.Stores.Redis.RedisKeys(Host.Services.GetRequiredService<Microsoft.Extensions.Configuration.IConfiguration>()["Gateway:Store:RedisPrefix"]!).UsageRoot;
        var member = $"k:{Id(created)}:{_time.GetUtcNow():yyyyMMddHH}";
        Assert.That(await db.KeyTimeToLiveAsync(root.Append(member)), Is.Not.Null, "the first flush set the expiry");
        await db.KeyDeleteAsync(root.Append(member));
        await db.SortedSetRemoveAsync(root.Append("hours"), member);
        for (var minute = 10; minute < 20; minute++)
        {
            if (minute > 10)
            {
                _time.Advance(TimeSpan.FromMinutes(1));
            }

            await Host.StatusAsync(Key(created));
            await FlushAsync();
            if (minute == 10)
            {
                Assert.That((await db.HashGetAllAsync(root.Append(member))).Select(f => ((string)f.Name!, (long)f.Value)), Is.EqualTo(new[] { ("10:allowed", 1L) }));
            }

            Assert.That(await db.KeyTimeToLiveAsync(root.Append(member)), Is.Null, $"10:{minute}: indexed at 10:10 already, no expiry or index written again");
        }

        Assert.That(await StoredAsync(org), Is.Zero, "out of the index until ten minutes after the full write");

        _time.Advance(TimeSpan.FromMinutes(1));
        await Host.StatusAsync(Key(created));
        await FlushAsync();
        Assert.That(await db.KeyTimeToLiveAsync(root.Append(member)), Is.Not.Null);
        Assert.That(await StoredAsync(org), Is.EqualTo(11), "indexed again at 10:20, with the ten minutes before");
    }

    [Test]
    public async Task Add_BatchOfSeveralParts_AllWritten()
    {
        var usage = Host.Services.GetRequiredService<IUsageStore>();
        var minute = Floor(_time.GetUtcNow(), TimeSpan.FromMinutes(1));
        var subject = "many-" + Guid.NewGuid().ToString("N");
        var count = (2 * RedisUsageStore.RecordsPerPart) + 17;
        var batch = Enumerable.Range(0, count)
            .Select(i =>
            {
                var counts = new long[UsageOutcomes.Count];
                counts[UsageOutcomes.AllowedIndex] = i + 1;
                return new UsageRecord(UsageSubjectKind.Key, subject + "-" + i, "org_many", minute, counts);
            })
            .ToList();

        await usage.AddAsync(batch, CancellationToken.None);

        var rows = await usage.ReadAsync(UsageSubjectKind.Key, batch.Select(r => r.Subject).ToList(), minute, minute.AddMinutes(1), CancellationToken.None);
        Assert.That(rows.Select(r => (r.Subject, r.Count)), Is.EquivalentTo(batch.Select((r, i) => (r.Subject, (long)(i + 1)))));
    }

    [Test]
    public async Task Compact_AfterADayAndAfterRetention_RollsUpToHoursThenDeletes()
    {
        var org = await NewOrgAsync();
        var created = await Host.CreateKeyAsync(org, new { name = "aging" });
        var start = _time.GetUtcNow();
        await Host.StatusAsync(Key(created));
        _time.Advance(TimeSpan.FromMinutes(1));
        await Host.StatusAsync(Key(created));
        await Host.StatusAsync(Key(created));
        await FlushAsync();
        var hour = Floor(start, TimeSpan.FromHours(1));
        var store = Host.Services.GetRequiredService<IUsageStore>();
        var flusher = Host.Services.GetRequiredService<UsageFlusher>();

        var minuteRows = await store.ReadAsync(UsageSubjectKind.Key, [Id(created)], hour, hour.AddHours(1), CancellationToken.None);
        Assert.That(minuteRows.Select(r => (r.Start, r.Count)), Is.EquivalentTo(new[] { (Floor(start, TimeSpan.FromMinutes(1)), 1L), (Floor(start, TimeSpan.FromMinutes(1)).AddMinutes(1), 2L) }));

        _time.Advance(TimeSpan.FromHours(23));
        await flusher.CompactAsync(CancellationToken.None);
        Assert.That(await store.ReadAsync(UsageSubjectKind.Key, [Id(created)], hour, hour.AddHours(1), CancellationToken.None), Has.Count.EqualTo(2), "minutes are kept for a day");

        _time.Advance(TimeSpan.FromHours(2));
        await flusher.CompactAsync(CancellationToken.None);
        var hourRows = await store.ReadAsync(UsageSubjectKind.Key, [Id(created)], hour, hour.AddHours(1), CancellationToken.None);
        Assert.That(hourRows.Select(r => (r.Start, r.Outcome, r.Count)), Is.EqualTo(new[] { (hour, "allowed", 3L) }), "rolled up to one hour row");
        var usage = await Host.AdminGetAsync($"admin/keys/{Id(created)}/usage?granularity=hour&from={Iso(hour)}&to={Iso(hour.AddHours(2))}");
        Assert.That(usage["intervals"]![0]!["total"]!.GetValue<long>(), Is.EqualTo(3));

        _time.Advance(TimeSpan.FromDays(29));
        await flusher.CompactAsync(CancellationToken.None);
        Assert.That(await store.ReadAsync(UsageSubjectKind.Key, [Id(created)], hour, hour.AddHours(1), CancellationToken.None), Is.Empty, "gone after the 30-day retention");
    }

    [Test]
    public async Task Shutdown_PendingCounts_WrittenAndSeenByTheNextGateway()
    {
        var org = await NewOrgAsync();
        var created = await Host.CreateKeyAsync(org, new { name = "last" });
        for (var i = 0; i < 3; i++)
        {
            await Host.StatusAsync(Key(created));
        }

        await RestartAsync();

        Assert.That(await StoredAsync(org), Is.EqualTo(3));
    }

    [TestCase("granularity=week", "granularity")]
    [TestCase("from=yesterday", "from")]
    [TestCase("from=1.5", "from")]
    [TestCase("from=12%2F06%2F2026", "from")]
    [TestCase("from=2026-12-06%2010:00", "from")]
    [TestCase("from=0001-01-01T00:00:00Z", "from")]
    [TestCase("to=2025-13-01T00:00:00Z", "to")]
    [TestCase("from=2025-02-01T00:00:00Z&to=2025-01-01T00:00:00Z", "from")]
    [TestCase("granularity=minute&from=2025-01-01T00:00:00Z&to=2025-03-01T00:00:00Z", "granularity")]
    [TestCase("granularity=minute&from=2026-12-07T00:00:00Z&to=2026-12-13T22:41:00Z", "granularity")]
    [TestCase("granularity=minute&from=2026-12-06T23:59:30Z&to=2026-12-13T22:40:00Z", "granularity")]
    public async Task Usage_BadParameters_Return400NamingTheField(string query, string field)
    {
        var org = await NewOrgAsync();
        var created = await Host.CreateKeyAsync(org, new { name = "k" });

        foreach (var path in new[] { $"admin/keys/{Id(created)}/usage?{query}", $"admin/orgs/{org}/usage?{query}" })
        {
            using var response = await Host.Admin.GetAsync(path);
            Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.BadRequest), path);
            var problem = await GatewayHost.ProblemAsync(response);
            Assert.That(problem["errors"]!.AsObject().Select(p => p.Key), Is.EqualTo(new[] { field }), path);
        }
    }

    // 10,000 minutes, the most one answer holds: from is rounded down, to up, and the intervals are counted after that.
    [TestCase("from=2026-12-07T00:00:00Z&to=2026-12-13T22:40:00Z")]
    [TestCase("from=2026-12-07T00:00:30Z&to=2026-12-13T22:39:30Z")]
    public async Task Usage_ExactlyTenThousandIntervals_Answered(string range)
    {
        var org = await NewOrgAsync();
        var created = await Host.CreateKeyAsync(org, new { name = "k" });

        var usage = await Host.AdminGetAsync($"admin/keys/{Id(created)}/usage?granularity=minute&{range}");

        Assert.That(usage["intervals"]!.AsArray(), Has.Count.EqualTo(10_000));
    }

    [TestCase("from=2026-12-01")]
    [TestCase("from=2026-12-01T10:30:00%2B01:00")]
    [TestCase("from=2026-12-01T10:30:00.123Z")]
    [TestCase("from=2026-12-01T10:30%2B0100")]
    [TestCase("from=2026-12-01T23:30:00-01:00")]
    public async Task Usage_IsoTimes_Accepted(string query)
    {
        var org = await NewOrgAsync();

        // Days start at midnight UTC: each falls on 1 December UTC but the last, which is 00:30 UTC on the 2nd.
        var usage = await Host.AdminGetAsync($"admin/orgs/{org}/usage?{query}&to=2026-12-05T00:00:00Z&granularity=day");

        Assert.That(usage.Str("from"), Does.StartWith(query.EndsWith("-01:00", StringComparison.Ordinal) ? "2026-12-02T00:00:00" : "2026-12-01T00:00:00"), usage.ToJsonString());
    }

    [Test]
    public async Task Usage_UnknownKeyOrOrg_Returns404()
    {
        using var key = await Host.Admin.GetAsync("admin/keys/nope/usage");
        using var org = await Host.Admin.GetAsync("admin/orgs/nope/usage");

        Assert.That(key.StatusCode, Is.EqualTo(HttpStatusCode.NotFound));
        Assert.That(org.StatusCode, Is.EqualTo(HttpStatusCode.NotFound));
    }

    [Test]
    public async Task Usage_WithoutAdminToken_Returns401()
    {
        using var client = new HttpClient { BaseAddress = Host.AdminUrl };

        using var response = await client.GetAsync("admin/orgs/any/usage");

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.Unauthorized));
    }

    private Task FlushAsync() => Host.Services.GetRequiredService<UsageFlusher>().FlushAsync(CancellationToken.None);

    /// <summary>What the store itself holds for the org's keys over the last day, ignoring counts not yet flushed.</summary>
    private async Task<long> StoredAsync(string org)
    {
        var keys = (await Host.AdminGetAsync($"admin/orgs/{org}/keys"))["items"]!.AsArray().Select(k => k!.Str("id")).ToList();
        var now = _time.GetUtcNow();
        var rows = await Host.Services.GetRequiredService<IUsageStore>().ReadAsync(UsageSubjectKind.Key, keys, now.AddDays(-1), now.AddHours(1), CancellationToken.None);
        return rows.Sum(r => r.Count);
    }

    private async Task<Dictionary<(string Route, string Outcome), long>> RouteCountsAsync()
    {
        var usage = await Host.AdminGetAsync("admin/usage/routes?granularity=hour");
        return usage["routes"]!.AsArray()
            .SelectMany(r => Counts(r!["usage"]!).Select(c => ((r.Str("routeId"), c.Key), c.Value)))
            .ToDictionary(p => p.Item1, p => p.Value);
    }

    private static Dictionary<string, long> Counts(JsonNode tally) =>
        tally["counts"]!.AsObject().ToDictionary(p => p.Key, p => p.Value!.GetValue<long>());

    private static string Key(JsonObject key) => key.Str("key");

    private static string Iso(DateTimeOffset value) => Uri.EscapeDataString(value.ToString("O"));

    private static DateTimeOffset Floor(DateTimeOffset value, TimeSpan unit) => new(value.UtcTicks - (value.UtcTicks % unit.Ticks), TimeSpan.Zero);
}
