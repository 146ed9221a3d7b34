using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Gateway.Tests.Common;
using Gateway.Tests.Operators;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;

namespace Gateway.Tests.RequestLog;

/// <summary>The request log over real sockets, on both stores: exactly one record per request that reached authentication.</summary>
[TestFixtureSource(typeof(StoreKinds), nameof(StoreKinds.All))]
public sealed class RequestLogTests(StoreKind store)
{
    private Upstream _upstream = null!;

    [OneTimeSetUp]
    public void StartUpstream() => _upstream = Upstream.Start();

    [OneTimeTearDown]
    public void StopUpstream() => _upstream.Dispose();

    private Task<GatewayHost> StartAsync(Dictionary<string, string?>? extra = null, Action<IServiceCollection>? services = null)
    {
        var settings = GatewayHost.Routes(_upstream.Url, ("api", "/api/{**rest}", []), ("open", "/open/{**rest}", [("Anonymous", "true")]));
        foreach (var (k, v) in extra ?? [])
        {
            settings[k] = v;
        }

        return GatewayHost.StartAsync(settings, services, store: store);
    }

    /// <summary>A proxied GET of /api/x by key_1, as the tests that write to the store directly append it.</summary>
    private static Gateway.RequestLog.RequestRecord StoredRecord(DateTimeOffset at, string requestId, string org) =>
        new(at, requestId, org, "key_1", null, "GET", "/api/x", "api", 200, null, 1.5, "127.0.0.1", 200);

    private static async Task<JsonObject> ListAsync(GatewayHost gateway, string path)
    {
        using var response = await gateway.Admin.GetAsync(path);
        var text = await response.Content.ReadAsStringAsync();
        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK), text);
        return JsonNode.Parse(text)!.AsObject();
    }

    private static async Task<JsonArray> WaitForItemsAsync(GatewayHost gateway, string path, int count) =>
        (await Eventually.ValueAsync(async () => (await ListAsync(gateway, path))["items"]!.AsArray(), items => items.Count >= count, TimeSpan.FromSeconds(15), $"{count} records at {path}"));

    [Test]
    public async Task BatchSize_Unset_IsTheStoresDefault_AndASetValueWins()
    {
        int? Effective(GatewayHost gateway) =>
            gateway.Services.GetRequiredService<Microsoft.Extensions.Options.IOptions<Gateway.RequestLog.RequestLogOptions>>().Value.BatchSize;

        await using (var gateway = await StartAsync())
        {
            // SQLite writes a batch in one transaction, whose cost is mostly per transaction; Redis holds itself for a script call.
            Assert.That(Effective(gateway), Is.EqualTo(store == StoreKind.Redis ? 500 : 5000));
        }

        await using (var gateway = await StartAsync(new() { ["Gateway:RequestLog:BatchSize"] = "42" }))
        {
            Assert.That(Effective(gateway), Is.EqualTo(42));
        }
    }

    [Test]
    public async Task Requests_ReachingAuthentication_OneRecordEachWithFields()
    {
        await using var gateway = await StartAsync();
        await gateway.CreateOrgAsync("acme");
        var key = await gateway.CreateKeyAsync("acme", new { name = "svc", customerId = "cust-1" });
        var plaintext = key["key"]!.GetValue<string>();
        var keyId = key["id"]!.GetValue<string>();

        const int N = 7;
        var ids = new List<string>();
        for (var i = 0; i < N; i++)
        {
            using var response = await gateway.CallAsync($"/api/items/{i}?token=s3cr3t&n={i}", plaintext);
            Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK));
            ids.Add(response.Headers.GetValues("X-Request-Id").Single());
        }

        // Refused by authentication before an organization is known: logged under no organization.
        using (var missing = await gateway.CallAsync("/api/x", null))
        {
            Assert.That(missing.StatusCode, Is.EqualTo(HttpStatusCode.Unauthorized));
        }

        using (var unknown = await gateway.CallAsync("/api/x", "gw_live_notarealkeyatallnotarealkeyatall1"))
        {
            Assert.That(unknown.StatusCode, Is.EqualTo(HttpStatusCode.Unauthorized));
        }

        // Anonymous routes do not reach authentication: not logged.
        using (var open = await gateway.CallAsync("/open/x", null))
        {
            Assert.That(open.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        }

        var items = await WaitForItemsAsync(gateway, "admin/orgs/acme/requests?limit=100", N);
        var unattributed = await WaitForItemsAsync(gateway, "admin/requests", 2);

        // Whatever else the writer had, it has flushed: one more read must not find more.
        items = (await ListAsync(gateway, "admin/orgs/acme/requests?limit=100"))["items"]!.AsArray();
        unattributed = (await ListAsync(gateway, "admin/requests"))["items"]!.AsArray();
        Assert.That(items, Has.Count.EqualTo(N));
        Assert.That(unattributed, Has.Count.EqualTo(2));

        // Newest first, one per request id, every field right.
        var expectedIds = Enumerable.Reverse(ids).ToList();
        Assert.That(items.Select(i => i!["requestId"]!.GetValue<string>()), Is.EqualTo(expectedIds));
        for (var i = 0; i < N; i++)
        {
            var r = items[N - 1 - i]!.AsObject();
            Assert.Multiple(() =>
            {
                Assert.That(r["keyId"]!.GetValue<string>(), Is.EqualTo(keyId));
                Assert.That(r["customerId"]!.GetValue<string>(), Is.EqualTo("cust-1"));
                Assert.That(r["method"]!.GetValue<string>(), Is.EqualTo("GET"));
                Assert.That(r["path"]!.GetValue<string>(), Is.EqualTo($"/api/items/{i}"), "no query string");
                Assert.That(r["route"]!.GetValue<string>(), Is.EqualTo("api"));
                Assert.That(r["status"]!.GetValue<int>(), Is.EqualTo(200));
                Assert.That(r["upstreamStatus"]!.GetValue<int>(), Is.EqualTo(200));
                Assert.That(r["code"], Is.Null);
                Assert.That(r["clientIp"]!.GetValue<string>(), Is.EqualTo("127.0.0.1"));
                Assert.That(r["durationMs"]!.GetValue<double>(), Is.GreaterThanOrEqualTo(0));
                Assert.That(r["time"], Is.Not.Null);
            });
        }

        Assert.That(unattributed.Select(i => i!["code"]!.GetValue<string>()), Is.EqualTo(new[] { "invalid_key", "missing_key" }));
        Assert.That(unattributed.Select(i => i!["keyId"]), Has.All.Null);
        Assert.That(unattributed.Select(i => i!["upstreamStatus"]), Has.All.Null);

        // Never the key or the query string, anywhere in what the log shows.
        var everything = items.ToJsonString() + unattributed.ToJsonString();
        Assert.That(everything, Does.Not.Contain(plaintext).And.Not.Contain("s3cr3t").And.Not.Contain("notarealkey"));

        // One request by id, with its organization.
        var one = await gateway.AdminGetAsync($"admin/requests/{ids[0]}");
        Assert.That(one["orgId"]!.GetValue<string>(), Is.EqualTo("acme"));
        Assert.That(one["path"]!.GetValue<string>(), Is.EqualTo("/api/items/0"));
        using var absent = await gateway.Admin.GetAsync("admin/requests/nope");
        Assert.That(absent.StatusCode, Is.EqualTo(HttpStatusCode.NotFound));
    }

    // A client that puts its key (or another one, or an admin token) in the path must not get it into the store and the
    // admin API: the stored path keeps where it was and what kind it was, with the secret characters replaced.
    [Test]
    public async Task KeyOrTokenInThePath_StoredRedacted()
    {
        await using var gateway = await StartAsync();
        await gateway.CreateOrgAsync("acme");
        var key = (await gateway.CreateKeyAsync("acme", new { name = "svc" }))["key"]!.GetValue<string>();
        var other = Gateway.Keys.ApiKeyFormat.Generate("gw", "development");
        var token = Gateway.Operators.OperatorTokenFormat.NewToken();

        using (var response = await gateway.CallAsync($"/api/{key}/x/{other}/y/{token}", key))
        {
            Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        }

        using (var refused = await gateway.CallAsync($"/api/v1/key={key}", null))
        {
            Assert.That(refused.StatusCode, Is.EqualTo(HttpStatusCode.Unauthorized));
        }

        var items = await WaitForItemsAsync(gateway, "admin/orgs/acme/requests", 1);
        var unattributed = await WaitForItemsAsync(gateway, "admin/requests", 1);
        Assert.That(items.Single()!["path"]!.GetValue<string>(), Is.EqualTo("/api/gw_live_[redacted]/x/gw_dev_[redacted]/y/gwa_[redacted]"));
        Assert.That(unattributed.Single()!["path"]!.GetValue<string>(), Is.EqualTo("/api/v1/key=gw_live_[redacted]"));
        var everything = items.ToJsonString() + unattributed.ToJsonString();
        foreach (var secret in new[] { key[^38..^6], other[^38..^6], token[4..] })
        {
            Assert.That(everything, Does.Not.Contain(secret));
        }
    }

    // Clients choose their X-Request-Id: a newer record with the same id, of another organization or of no key at
    // all, must not hide an organization's own record from its operators.
    [Test]
    public async Task GetById_IdReusedByOthers_ScopedOperatorStillFindsItsOwnRecord()
    {
        await using var gateway = await StartAsync();
        await gateway.CreateOrgAsync("acme");
        await gateway.CreateOrgAsync("beta");
        var acme = (await gateway.CreateKeyAsync("acme", new { name = "a" }))["key"]!.GetValue<string>();
        var beta = (await gateway.CreateKeyAsync("beta", new { name = "b" }))["key"]!.GetValue<string>();
        using var viewer = await gateway.OperatorAsync("acme-viewer-" + store, "viewer", "acme");

        async Task CallAsync(string? key, string path)
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, path);
            request.Headers.Add("X-Request-Id", "reused-id-1");
            if (key is not null)
            {
                request.Headers.Authorization = new("Bearer", key);
            }

            (await gateway.Proxy.SendAsync(request)).Dispose();

            // Records are timed to the millisecond: the next one must be strictly newer for "newest" to mean one record.
            var sent = DateTimeOffset.UtcNow;
            await Eventually.HoldsAsync(() => DateTimeOffset.UtcNow > sent.AddMilliseconds(2), TimeSpan.FromSeconds(5));
        }

        await CallAsync(acme, "/api/acme");
        await CallAsync(beta, "/api/beta");
        await CallAsync(null, "/api/nobody");
        await WaitForItemsAsync(gateway, "admin/requests", 1);
        await WaitForItemsAsync(gateway, "admin/orgs/beta/requests", 1);

        using (var own = await viewer.GetAsync("admin/requests/reused-id-1"))
        {
            Assert.That(own.StatusCode, Is.EqualTo(HttpStatusCode.OK));
            var record = (await own.Content.ReadFromJsonAsync<JsonObject>())!;
            Assert.That(record["orgId"]!.GetValue<string>(), Is.EqualTo("acme"));
            Assert.That(record["path"]!.GetValue<string>(), Is.EqualTo("/api/acme"));
        }

        using (var none = await viewer.GetAsync("admin/requests/not-a-logged-id"))
        {
            Assert.That(none.StatusCode, Is.EqualTo(HttpStatusCode.NotFound));
        }

        // The bootstrap token sees every organization: the newest record with the id, or, with ?org=, that organization's.
        var newest = await gateway.AdminGetAsync("admin/requests/reused-id-1");
        Assert.That(newest["path"]!.GetValue<string>(), Is.EqualTo("/api/nobody"));
        var acmeRecord = await gateway.AdminGetAsync("admin/requests/reused-id-1?org=acme");
        Assert.That(acmeRecord["path"]!.GetValue<string>(), Is.EqualTo("/api/acme"));
        var betaRecord = await gateway.AdminGetAsync("admin/requests/reused-id-1?org=beta");
        Assert.That(betaRecord["path"]!.GetValue<string>(), Is.EqualTo("/api/beta"));
        using (var elsewhere = await gateway.Admin.GetAsync("admin/requests/reused-id-1?org=nosuchorg"))
        {
            Assert.That(elsewhere.StatusCode, Is.EqualTo(HttpStatusCode.NotFound));
        }

        // A scoped operator asking about another organization's log learns nothing of it.
        using (var other = await viewer.GetAsync("admin/requests/reused-id-1?org=beta"))
        {
            Assert.That(other.StatusCode, Is.EqualTo(HttpStatusCode.NotFound));
        }

        using (var mine = await viewer.GetAsync("admin/requests/reused-id-1?org=acme"))
        {
            Assert.That((await mine.Content.ReadFromJsonAsync<JsonObject>())!["path"]!.GetValue<string>(), Is.EqualTo("/api/acme"));
        }
    }

    [Test]
    public async Task Query_FiltersAndCursor_PageThroughNewestFirst()
    {
        await using var gateway = await StartAsync();
        await gateway.CreateOrgAsync("acme");
        var a = await gateway.CreateKeyAsync("acme", new { name = "a" });
        var b = await gateway.CreateKeyAsync("acme", new { name = "b", scopes = new[] { "read" } });
        for (var i = 0; i < 5; i++)
        {
            (await gateway.CallAsync("/api/a", a["key"]!.GetValue<string>())).Dispose();
        }

        (await gateway.CallAsync("/api/b", b["key"]!.GetValue<string>())).Dispose();
        await gateway.AdminPostAsync($"admin/keys/{b["id"]}/revoke");
        (await gateway.CallAsync("/api/b", b["key"]!.GetValue<string>())).Dispose();

        await WaitForItemsAsync(gateway, "admin/orgs/acme/requests", 7);
        var revoked = await ListAsync(gateway, "admin/orgs/acme/requests?code=key_revoked");
        Assert.That(revoked["items"]!.AsArray(), Has.Count.EqualTo(1));
        Assert.That(revoked["items"]![0]!["keyId"]!.GetValue<string>(), Is.EqualTo(b["id"]!.GetValue<string>()));
        Assert.That(revoked["items"]![0]!["status"]!.GetValue<int>(), Is.EqualTo(401));

        var byKey = await ListAsync(gateway, $"admin/orgs/acme/requests?keyId={a["id"]}&status=200&limit=2");
        var seen = byKey["items"]!.AsArray().Select(i => i!["requestId"]!.GetValue<string>()).ToList();
        var next = byKey["next"]?.GetValue<string>();
        while (next is not null)
        {
            var page = await ListAsync(gateway, $"admin/orgs/acme/requests?keyId={a["id"]}&status=200&limit=2&cursor={Uri.EscapeDataString(next)}");
            seen.AddRange(page["items"]!.AsArray().Select(i => i!["requestId"]!.GetValue<string>()));
            next = page["next"]?.GetValue<string>();
        }

        Assert.That(seen, Has.Count.EqualTo(5).And.Unique);

        using var bad = await gateway.Admin.GetAsync("admin/orgs/acme/requests?cursor=zzz&status=abc");
        Assert.That(bad.StatusCode, Is.EqualTo(HttpStatusCode.BadRequest));
        Assert.That((await GatewayHost.ProblemAsync(bad))["code"]!.GetValue<string>(), Is.EqualTo("invalid_request"));

        // An empty range is a mistake in the query, as on the usage endpoints: refused, naming "from".
        foreach (var range in new[] { "from=2026-12-06T10:00:00Z&to=2026-12-06T09:00:00Z", "from=2026-12-06T10:00:00Z&to=2026-12-06T10:00:00Z" })
        {
            using var inverted = await gateway.Admin.GetAsync($"admin/orgs/acme/requests?{range}");
            Assert.That(inverted.StatusCode, Is.EqualTo(HttpStatusCode.BadRequest), range);
            Assert.That((await GatewayHost.ProblemAsync(inverted))["errors"]!["from"], Is.Not.Null, range);
        }
    }

    [Test]
    public async Task Record_NonAsciiPath_StoredAsDecoded()
    {
        await using var gateway = await StartAsync();
        await gateway.CreateOrgAsync("acme");
        var key = (await gateway.CreateKeyAsync("acme", new { name = "svc" }))["key"]!.GetValue<string>();
        using (var response = await gateway.CallAsync("/api/caf%C3%A9/%E6%97%A5%E6%9C%AC", key))
        {
            Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        }

        var item = (await WaitForItemsAsync(gateway, "admin/orgs/acme/requests", 1))[0]!;
        Assert.That(item["path"]!.GetValue<string>(), Is.EqualTo("/api/café/日本"));
    }

    [Test]
    public async Task Cap_MoreRequestsThanMaxPerOrg_KeepsTheNewest()
    {
        await using var gateway = await StartAsync(new() { ["Gateway:RequestLog:MaxPerOrg"] = "3" });
        await gateway.CreateOrgAsync("acme");
        var key = (await gateway.CreateKeyAsync("acme", new { name = "svc" }))["key"]!.GetValue<string>();
        var ids = new List<string>();
        for (var i = 0; i < 8; i++)
        {
            using var response = await gateway.CallAsync("/api/x", key);
            ids.Add(response.Headers.GetValues("X-Request-Id").Single());
        }

        // The cap is applied after the writes: eventually exactly the 3 newest remain.
        var kept = await Eventually.ValueAsync(
            async () => (await ListAsync(gateway, "admin/orgs/acme/requests"))["items"]!.AsArray().Select(i => i!["requestId"]!.GetValue<string>()).ToList(),
            items => items.SequenceEqual(Enumerable.Reverse(ids).Take(3)),
            TimeSpan.FromSeconds(15),
            "the 3 newest records");
        Assert.That(kept, Has.Count.EqualTo(3));
    }

    [Test]
    public async Task Trim_CapFallsInsideABatch_KeepsExactlyTheNewest()
    {
        if (store != StoreKind.Sqlite)
        {
            Assert.Ignore("Batches are the embedded store's; Redis trims a stream with one XTRIM.");
        }

        await using var gateway = await StartAsync();
        var log = gateway.Services.GetRequiredService<Gateway.RequestLog.IRequestLogStore>();
        var start = DateTimeOffset.UtcNow.AddMinutes(-10);
        for (var batch = 0; batch < 26; batch++)
        {
            var records = Enumerable.Range(batch * 100, 100)
                .Select(i => StoredRecord(start.AddMilliseconds(i), "bulk-" + i, "bulk"))
                .ToList();
            await log.AppendAsync(records, CancellationToken.None);
        }

        await log.TrimAsync(["bulk"], start.AddDays(-1), 150, CancellationToken.None);

        await using var connection = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={Path.Combine(gateway.Directory, "gateway.db")};Mode=ReadOnly;Pooling=False");
        await connection.OpenAsync();
        await using var command = connection.CreateCommand();
        command.CommandText = """
            SELECT count(DISTINCT b.seq), count(*), min(json_extract(r.value, '$[1]')), max(json_extract(r.value, '$[1]'))
            FROM request_log_batches b, json_each(b.records) r WHERE b.org_id = 'bulk';
            """;
        await using var reader = await command.ExecuteReaderAsync();
        Assert.That(await reader.ReadAsync(), Is.True);
        Assert.That(reader.GetInt64(0), Is.EqualTo(2), "the newest batch whole, and the one the cap falls in");
        Assert.That(reader.GetInt64(1), Is.EqualTo(150), "records kept");
        Assert.That((reader.GetString(2), reader.GetString(3)), Is.EqualTo(("bulk-2450", "bulk-2599")), "the newest 150");
        await reader.CloseAsync();
        command.CommandText = "SELECT sum(count), min(first_at) FROM request_log_batches WHERE org_id = 'bulk';";
        await using var counts = await command.ExecuteReaderAsync();
        Assert.That(await counts.ReadAsync(), Is.True);
        Assert.That((counts.GetInt64(0), counts.GetInt64(1)), Is.EqualTo((150L, start.AddMilliseconds(2450).ToUnixTimeMilliseconds())), "the rewritten batch's count and first time");

        var page = await log.QueryAsync(new("bulk", null, null, null, null, null, null, 200, null, start.AddDays(-1)), CancellationToken.None);
        Assert.That(page.Items.Select(r => r.RequestId), Is.EqualTo(Enumerable.Range(2450, 150).Reverse().Select(i => "bulk-" + i)), "newest first, the counts stored match the records");
    }

    [Test]
    public async Task Index_ManyMoreRecordsThanTheCap_StaysWithinTwoCapsAndFindsTheNewest()
    {
        if (store != StoreKind.Redis)
        {
            Assert.Ignore("The request-id index is the Redis store's; SQLite searches its batches.");
        }

        const int Cap = 50;
        await using var gateway = await StartAsync(new() { ["Gateway:RequestLog:MaxPerOrg"] = Cap.ToString(System.Globalization.CultureInfo.InvariantCulture) });
        var log = gateway.Services.GetRequiredService<Gateway.RequestLog.IRequestLogStore>();
        var redis = gateway.Services.GetRequiredService<StackExchange.Redis.IConnectionMultiplexer>();
        var prefix = gateway.Services.GetRequiredService<IConfiguration>()["Gateway:Store:RedisPrefix"]!;
        var start = DateTimeOffset.UtcNow.AddMinutes(-10);
        Gateway.RequestLog.RequestRecord Record(string org, string id, int ms) => StoredRecord(start.AddMilliseconds(ms), id, org);

        // 21 batches of 30: over twelve caps' worth through the index, which turns before each batch that would take it
        // to the cap (here every batch after the first).
        for (var batch = 0; batch < 21; batch++)
        {
            await log.AppendAsync(Enumerable.Range(batch * 30, 30).Select(i => Record("bulk", "bulk-" + i, i)).ToList(), CancellationToken.None);
        }

        var db = redis.GetDatabase();
        var now = await db.HashLengthAsync(prefix + "reqlog-idx:{bulk}");
        var before = await db.HashLengthAsync(prefix + "reqlog-idx-old:{bulk}");
        Assert.That(now + before, Is.InRange(Cap, 2 * Cap), "the index holds one to two caps' worth of ids, not every id written");
        Assert.That((now, before), Is.EqualTo((30L, 30L)), "the batch since the last turn, and the one before it");
        foreach (var index in new[] { "reqlog-idx:{bulk}", "reqlog-idx-old:{bulk}" })
        {
            Assert.That((await db.KeyTimeToLiveAsync(prefix + index))?.TotalDays, Is.GreaterThan(6.9), $"{index} expires with the retention");
        }

        var keys = redis.GetServers().SelectMany(server => server.Keys(pattern: prefix + "reqlog-id:*")).ToList();
        Assert.That(keys, Is.Empty, "no key per request");

        Assert.That((await log.FindAsync("bulk-629", start.AddDays(-1), CancellationToken.None))?.Path, Is.EqualTo("/api/x"), "the newest record");
        Assert.That((await log.FindAsync("bulk-590", start.AddDays(-1), CancellationToken.None))?.RequestId, Is.EqualTo("bulk-590"), "a record within the cap");
        await log.TrimAsync(["bulk"], start.AddDays(-1), Cap, CancellationToken.None);
        Assert.That(await log.FindAsync("bulk-0", start.AddDays(-1), CancellationToken.None), Is.Null, "a record past the cap");

        // A client-chosen X-Request-Id seen in two organizations: the newer record is the one shown.
        await log.AppendAsync([Record("acme", "shared-id", 1_000_000), Record("beta", "shared-id", 2_000_000)], CancellationToken.None);
        Assert.That((await log.FindAsync("shared-id", start.AddDays(-1), CancellationToken.None))?.OrgId, Is.EqualTo("beta"));
        Assert.That((await log.FindAsync("shared-id", "acme", start.AddDays(-1), CancellationToken.None))?.OrgId, Is.EqualTo("acme"), "looked up in one organization");
        Assert.That(await log.FindAsync("shared-id", "gamma", start.AddDays(-1), CancellationToken.None), Is.Null);

        // A pointer as the version before the index kept it, one key per request id, is still followed.
        var entry = await db.StreamAddAsync(prefix + "reqlog:{acme}", [new("t", start.ToUnixTimeMilliseconds()), new("r", "old-id"), new("m", "GET"), new("p", "/api/old"), new("s", 200), new("d", "2")]);
        await db.StringSetAsync(prefix + "reqlog-id:{old-id}", "acme\n" + entry, TimeSpan.FromMinutes(5));
        Assert.That((await log.FindAsync("old-id", start.AddDays(-1), CancellationToken.None))?.Path, Is.EqualTo("/api/old"));
    }

    [Test]
    public async Task Index_RecordsComingSlowly_ExpiryAndLengthLookedAfterOnceAMinuteOrNearTheCap()
    {
        if (store != StoreKind.Redis)
        {
            Assert.Ignore("The request-id index is the Redis store's; SQLite searches its batches.");
        }

        const int Cap = 10;
        var clock = new FakeTimeProvider(DateTimeOffset.UtcNow);
        await using var gateway = await StartAsync(
            new() { ["Gateway:RequestLog:MaxPerOrg"] = Cap.ToString(System.Globalization.CultureInfo.InvariantCulture) },
            s => s.AddSingleton<TimeProvider>(clock));
        var log = gateway.Services.GetRequiredService<Gateway.RequestLog.IRequestLogStore>();
        var db = gateway.Services.GetRequiredService<StackExchange.Redis.IConnectionMultiplexer>().GetDatabase();
        var prefix = gateway.Services.GetRequiredService<IConfiguration>()["Gateway:Store:RedisPrefix"]!;
        var index = prefix + "reqlog-idx:{slow}";
        var start = DateTimeOffset.UtcNow.AddMinutes(-10);
        var written = 0;
        Task AppendOneAsync() => log.AppendAsync([StoredRecord(start.AddMilliseconds(written), "slow-" + written++, "slow")], CancellationToken.None);

        // The first record sets the expiry: the retention and the minute the upkeep may lag.
        await AppendOneAsync();
        Assert.That((await db.KeyTimeToLiveAsync(index))?.TotalSeconds, Is.InRange(TimeSpan.FromDays(7).TotalSeconds, TimeSpan.FromDays(7).TotalSeconds + 60));

        // Within the minute, records add to the index and leave its expiry alone (shortened here to see that).
        await db.KeyExpireAsync(index, TimeSpan.FromSeconds(1000));
        for (var i = 0; i < 4; i++)
        {
            await AppendOneAsync();
        }

        Assert.That((await db.KeyTimeToLiveAsync(index))?.TotalSeconds, Is.LessThanOrEqualTo(1000), "no expiry set within the minute");
        Assert.That(await db.HashLengthAsync(index), Is.EqualTo(5));

        // A minute on, the next record sets it again.
        clock.Advance(TimeSpan.FromSeconds(61));
        await AppendOneAsync();
        Assert.That((await db.KeyTimeToLiveAsync(index))?.TotalDays, Is.GreaterThan(6.9), "expiry set again after a minute");

        // Without a minute passing, the index still turns at the cap: the process counts what it added.
        while (written < 25)
        {
            await AppendOneAsync();
        }

        var now = await db.HashLengthAsync(index);
        var before = await db.HashLengthAsync(prefix + "reqlog-idx-old:{slow}");
        Assert.That((now, before), Is.EqualTo((7L, 9L)), "turned before the 10th and the 19th record, 7 since");
        Assert.That((await db.KeyTimeToLiveAsync(prefix + "reqlog-idx-old:{slow}"))?.TotalDays, Is.GreaterThan(6.9), "the turned index keeps its expiry");
        Assert.That((await db.KeyTimeToLiveAsync(index))?.TotalDays, Is.GreaterThan(6.9), "an index made anew by a turn gets its expiry in the same call");
        for (var i = written - Cap; i < written; i++)
        {
            Assert.That((await log.FindAsync("slow-" + i, start.AddDays(-1), CancellationToken.None))?.RequestId, Is.EqualTo("slow-" + i), "every id the cap keeps is found");
        }
    }

    [Test]
    public async Task Entry_OneJsonFieldAndItsTime_ReadNewestFirstBesideEntriesOfAFieldPerColumn()
    {
        if (store != StoreKind.Redis)
        {
            Assert.Ignore("The Redis store's stream entries.");
        }

        await using var gateway = await StartAsync();
        var log = gateway.Services.GetRequiredService<Gateway.RequestLog.IRequestLogStore>();
        var db = gateway.Services.GetRequiredService<StackExchange.Redis.IConnectionMultiplexer>().GetDatabase();
        var prefix = gateway.Services.GetRequiredService<IConfiguration>()["Gateway:Store:RedisPrefix"]!;
        var start = DateTimeOffset.FromUnixTimeMilliseconds(DateTimeOffset.UtcNow.AddMinutes(-5).ToUnixTimeMilliseconds());

        // An entry as earlier versions wrote it, a field per column, then records of this version after it.
        var old = await db.StreamAddAsync(prefix + "reqlog:{acme}", [new("t", start.ToUnixTimeMilliseconds()), new("r", "old-1"), new("m", "POST"), new("p", "/api/old"),
            new("s", 429), new("d", "2.5"), new("k", "key_old"), new("co", "rate_limited"), new("ip", "10.0.0.1")]);
        await db.HashSetAsync(prefix + "reqlog-idx:{acme}", "old-1", old.ToString());
        Gateway.RequestLog.RequestRecord[] records =
        [
            new(start.AddSeconds(1), "new-1", "acme", "key_1", "cus_1", "GET", "/api/\"quoted\"/ü/+<&>", "api", 502, "upstream_error", 12.25, "2001:db8::1", 503),
            new(start.AddSeconds(2), "new-2", "acme", null, null, "GET", "/api/x", null, 401, "invalid_key", 0.5, null, null),
        ];
        await log.AppendAsync(records, CancellationToken.None);

        var entries = await db.StreamRangeAsync(prefix + "reqlog:{acme}", "-", "+");
        Assert.That(entries, Has.Length.EqualTo(3));
        foreach (var (entry, record) in entries.Skip(1).Zip(records))
        {
            Assert.That(entry.Values.Select(v => v.Name.ToString()), Is.EqualTo(new[] { "t", "v" }), "the time for earlier versions' scans, and the record");
            Assert.That((long)entry["t"], Is.EqualTo(record.Time.ToUnixTimeMilliseconds()));
        }

        var page = await log.QueryAsync(new("acme", null, null, null, null, null, null, 10, null, start.AddDays(-1)), CancellationToken.None);
        Assert.That(page.Items.Take(2), Is.EqualTo(records.Reverse()), "every field back as written, newest first");
        Assert.That(page.Items[2], Is.EqualTo(new Gateway.RequestLog.RequestRecord(start, "old-1", "acme", "key_old", null, "POST", "/api/old", null, 429, "rate_limited", 2.5, "10.0.0.1", null)));
        Assert.That(await log.FindAsync("new-1", start.AddDays(-1), CancellationToken.None), Is.EqualTo(records[0]));
        Assert.That((await log.FindAsync("old-1", start.AddDays(-1), CancellationToken.None))?.Path, Is.EqualTo("/api/old"));
        var refused = await log.QueryAsync(new("acme", null, null, 401, null, null, null, 10, null, start.AddDays(-1)), CancellationToken.None);
        Assert.That(refused.Items.Select(r => r.RequestId), Is.EqualTo(new[] { "new-2" }));
    }

    [Test]
    [NonParallelizable]
    public async Task Append_BatchSpreadOverManyOrganizations_AllocatesForItsRecordsOnly()
    {
        if (store != StoreKind.Redis)
        {
            Assert.Ignore("The Redis store's script arguments; SQLite encodes one buffer per organization.");
        }

        await using var gateway = await StartAsync();
        var log = gateway.Services.GetRequiredService<Gateway.RequestLog.IRequestLogStore>();
        var start = DateTimeOffset.UtcNow.AddMinutes(-1);
        var records = Enumerable.Range(0, 500)
            .Select(i => StoredRecord(start.AddMilliseconds(i), "spread-" + i, "org-" + i))
            .ToList();
        await log.AppendAsync(records.Take(10).ToList(), CancellationToken.None);

        // Three more records of one organization, spread through the batch: its share, wherever they fall.
        records.Insert(400, StoredRecord(start.AddMilliseconds(600), "multi-3", "org-multi"));
        records.Insert(200, StoredRecord(start.AddMilliseconds(550), "multi-2", "org-multi"));
        records.Insert(0, StoredRecord(start.AddMilliseconds(501), "multi-1", "org-multi"));

        // Process-wide (the call's continuations run on other threads), hence run alone. One record per
        // organization: sizing each organization's arguments for the whole batch allocated about 110 MB here.
        var before = GC.GetTotalAllocatedBytes(precise: true);
        await log.AppendAsync(records, CancellationToken.None);
        var allocated = GC.GetTotalAllocatedBytes(precise: true) - before;
        TestContext.Out.WriteLine($"{allocated / 1024} KiB allocated for 500 records over 500 organizations");
        Assert.That(allocated, Is.LessThan(16 * 1024 * 1024));
        foreach (var i in new[] { 0, 1, 250, 498, 499 })
        {
            Assert.That((await log.FindAsync("spread-" + i, start.AddDays(-1), CancellationToken.None))?.OrgId, Is.EqualTo("org-" + i), $"spread-{i}");
        }

        var multi = await log.QueryAsync(new("org-multi", null, null, null, null, null, null, 10, null, start.AddDays(-1)), CancellationToken.None);
        Assert.That(multi.Items.Select(r => r.RequestId), Is.EqualTo(new[] { "multi-3", "multi-2", "multi-1" }));
    }

    [Test]
    public async Task Append_BusyAndSpreadOrganizations_NoScriptCallOnTheLargeObjectHeap_AllStored()
    {
        if (store != StoreKind.Redis)
        {
            Assert.Ignore("The Redis store's script arguments.");
        }

        await using var gateway = await StartAsync();
        var log = (Gateway.RequestLog.RedisRequestLogStore)gateway.Services.GetRequiredService<Gateway.RequestLog.IRequestLogStore>();
        var start = DateTimeOffset.FromUnixTimeMilliseconds(DateTimeOffset.UtcNow.AddMinutes(-1).ToUnixTimeMilliseconds());

        // Every optional field set, so each record takes the most values it can; one busy organization, then many
        // organizations of a record each, as a batch looks under load with many keys.
        static Gateway.RequestLog.RequestRecord Full(DateTimeOffset at, string requestId, string org) =>
            new(at, requestId, org, "key_1", "cus_1", "GET", "/api/x", "api", 429, "rate_limited", 1.5, "2001:db8::1", 502);
        var busy = Enumerable.Range(0, 1000).Select(i => Full(start.AddMilliseconds(i), "busy-" + i, "org-busy")).ToList();
        var spread = Enumerable.Range(0, 700).Select(i => Full(start.AddMilliseconds(i), "spread-" + i, "org-s" + i)).ToList();

        var calls = log.ScriptCalls(
            [(busy, "org-busy", "stream-busy"), .. spread.Select(r => ((IEnumerable<Gateway.RequestLog.RequestRecord>)[r], r.OrgId, (StackExchange.Redis.RedisKey)("stream-" + r.OrgId)))],
            100_000, 3600).ToList();
        var largest = calls.Max(c => c.Arguments.Length);
        TestContext.Out.WriteLine($"{calls.Count} calls, the largest with {largest} arguments");
        // An array past 85,000 bytes goes to the large-object heap, collected only with the whole heap.
        Assert.That((largest * System.Runtime.CompilerServices.Unsafe.SizeOf<StackExchange.Redis.RedisValue>()) + 24, Is.LessThan(85_000));
        Assert.That(calls.Sum(c => c.Keys.Length / 3), Is.EqualTo((1000 / 200) + 700), "the busy organization in parts of 200, the others whole");

        await log.AppendAsync([.. busy, .. spread], CancellationToken.None);
        var stored = await log.QueryAsync(new("org-busy", null, null, null, null, null, null, 1000, null, start.AddDays(-1)), CancellationToken.None);
        Assert.That(stored.Items.Select(r => r.RequestId), Is.EqualTo(busy.Select(r => r.RequestId).Reverse()));
        Assert.That(stored.Items[0], Is.EqualTo(busy[^1]));
        foreach (var i in new[] { 0, 349, 699 })
        {
            Assert.That(await log.FindAsync("spread-" + i, null, start.AddDays(-1), CancellationToken.None), Is.EqualTo(spread[i]), $"spread-{i}");
        }
    }

    [Test]
    public async Task Cursor_BatchRewrittenByTheCapBetweenPages_NextPageContinuesWithoutRepeats()
    {
        if (store != StoreKind.Sqlite)
        {
            Assert.Ignore("Batches are the embedded store's.");
        }

        await using var gateway = await StartAsync();
        var log = gateway.Services.GetRequiredService<Gateway.RequestLog.IRequestLogStore>();
        var start = DateTimeOffset.UtcNow.AddMinutes(-1);
        await log.AppendAsync(
            Enumerable.Range(0, 10).Select(i => new Gateway.RequestLog.RequestRecord(start.AddMilliseconds(i), "pg-" + i, "pg", "key_1", null, "GET", "/api/x", "api", 200, null, 1, null, 200)).ToList(),
            CancellationToken.None);
        var notBefore = start.AddDays(-1);
        var first = await log.QueryAsync(new("pg", null, null, null, null, null, null, 3, null, notBefore), CancellationToken.None);
        Assert.That(first.Items.Select(r => r.RequestId), Is.EqualTo(new[] { "pg-9", "pg-8", "pg-7" }));

        // The cap drops the batch's five oldest records, so every record after them moves in the batch.
        await log.TrimAsync(["pg"], notBefore, 5, CancellationToken.None);
        var second = await log.QueryAsync(new("pg", null, null, null, null, null, null, 3, first.Next, notBefore), CancellationToken.None);
        Assert.That(second.Items.Select(r => r.RequestId), Is.EqualTo(new[] { "pg-6", "pg-5" }));
        Assert.That(second.Next, Is.Null);
    }

    [Test]
    public async Task Start_StoreWithARowPerRecord_RecordsPackedAndStillFound()
    {
        if (store != StoreKind.Sqlite)
        {
            Assert.Ignore("Schema migrations are the embedded store's.");
        }

        var directory = Path.Combine(Path.GetTempPath(), "gw-tests", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(directory);
        var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();

        // A version 8 store: one row per record, 1,203 of them for acme (three batches once packed), one refusal under no organization.
        await using (var connection = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={Path.Combine(directory, "gateway.db")};Pooling=False"))
        {
            await connection.OpenAsync();
            await using var command = connection.CreateCommand();
            command.CommandText = string.Concat(Gateway.Stores.Sqlite.SqliteSchema.Migrations.Take(8)) + """
                PRAGMA user_version = 8;
                INSERT INTO orgs (id, name, created_at, default_key_id) VALUES ('acme', 'Acme', 0, 'key_1');
                WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < 1202)
                INSERT INTO request_log (org_id, at, request_id, key_id, customer_id, method, path, route, status, code, duration_ms, client_ip, upstream_status)
                SELECT 'acme', $now - 5000 + i, 'old-' || i, 'key_1', CASE WHEN i = 1202 THEN 'cus_1' END, 'GET', '/api/é/' || i, 'api',
                       CASE WHEN i % 2 = 0 THEN 200 ELSE 429 END, CASE WHEN i % 2 = 0 THEN NULL ELSE 'rate_limited' END, 1.25, '10.0.0.1',
                       CASE WHEN i % 2 = 0 THEN 200 END
                FROM n;
                INSERT INTO request_log (org_id, at, request_id, key_id, customer_id, method, path, route, status, code, duration_ms, client_ip, upstream_status)
                VALUES ('', $now - 10, 'anon-1', NULL, NULL, 'POST', '/api/x', 'api', 401, 'missing_key', 0.5, '10.0.0.2', NULL);
                """;
            command.Parameters.AddWithValue("$now", now);
            await command.ExecuteNonQueryAsync();
        }

        await using var gateway = await GatewayHost.StartAsync(GatewayHost.Routes(_upstream.Url, ("api", "/api/{**rest}", [])), directory: directory);
        var newest = await ListAsync(gateway, "admin/orgs/acme/requests?limit=2");
        var items = newest["items"]!.AsArray();
        Assert.That(items.Select(i => i!["requestId"]!.GetValue<string>()), Is.EqualTo(new[] { "old-1202", "old-1201" }));
        Assert.That(items[0]!["path"]!.GetValue<string>(), Is.EqualTo("/api/é/1202"));
        Assert.That(items[0]!["customerId"]!.GetValue<string>(), Is.EqualTo("cus_1"));
        Assert.That(items[1]!["code"]!.GetValue<string>(), Is.EqualTo("rate_limited"));
        Assert.That(items[1]!["status"]!.GetValue<int>(), Is.EqualTo(429));

        var limited = await ListAsync(gateway, "admin/orgs/acme/requests?status=429&limit=1000");
        Assert.That(limited["items"]!.AsArray(), Has.Count.EqualTo(601), "every 429 across the three packed batches");
        Assert.That(limited["items"]![600]!["requestId"]!.GetValue<string>(), Is.EqualTo("old-1"));

        var found = await gateway.AdminGetAsync("admin/requests/old-7");
        Assert.That((found["orgId"]!.GetValue<string>(), found["path"]!.GetValue<string>()), Is.EqualTo(("acme", "/api/é/7")));
        var anonymous = await ListAsync(gateway, "admin/requests");
        Assert.That(anonymous["items"]![0]!["requestId"]!.GetValue<string>(), Is.EqualTo("anon-1"));

        await using (var connection = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={Path.Combine(directory, "gateway.db")};Mode=ReadOnly;Pooling=False"))
        {
            await connection.OpenAsync();
            await using var command = connection.CreateCommand();
            command.CommandText = "SELECT group_concat(count) FROM (SELECT count FROM request_log_batches WHERE org_id = 'acme' ORDER BY seq);";
            Assert.That(await command.ExecuteScalarAsync(), Is.EqualTo("500,500,203"));
            command.CommandText = "SELECT count(*) FROM sqlite_master WHERE name = 'request_log';";
            Assert.That(await command.ExecuteScalarAsync(), Is.EqualTo(0L), "the old table is gone");
        }
    }

    [Test]
    public async Task Append_ThinOrganizations_HeldUntilAFullRowTheirTimeOrARead()
    {
        if (store != StoreKind.Sqlite)
        {
            Assert.Ignore("Rows are the embedded store's.");
        }

        await using var gateway = await StartAsync();
        var log = gateway.Services.GetRequiredService<Gateway.RequestLog.IRequestLogStore>();
        var start = DateTimeOffset.UtcNow.AddMinutes(-1);
        IEnumerable<Gateway.RequestLog.RequestRecord> Records(string org, int count) =>
            Enumerable.Range(0, count).Select(i => StoredRecord(start.AddMilliseconds(i), $"{org}-{Guid.NewGuid():N}", org));

        // Nothing held yet. However recent, held records are written once there are MaxHeld of them, whichever organizations they are.
        var many = Gateway.RequestLog.SqliteRequestLogStore.MaxHeld;
        await log.AppendAsync([.. Enumerable.Range(0, many - 1).Select(i => StoredRecord(start, $"spread-{i}", $"spread-{i % 1000}"))], CancellationToken.None);
        Assert.That(await RowCountsAsync(gateway, "spread-7"), Is.Null, "below the most held");
        await log.AppendAsync([StoredRecord(start, "spread-last", "spread-7")], CancellationToken.None);
        Assert.That(await RowCountsAsync(gateway, "spread-7"), Is.EqualTo("11"), "all held records written, those of spread-7 as one row");

        // A full row is written at once; two records of another organization wait for more.
        await log.AppendAsync([.. Records("full", Gateway.RequestLog.SqliteRequestLogStore.FullRow), .. Records("thin", 2)], CancellationToken.None);
        Assert.That(await RowCountsAsync(gateway, "full"), Is.EqualTo("64"));
        Assert.That(await RowCountsAsync(gateway, "thin"), Is.Null, "held");

        // A read on this instance writes what it asks about first.
        var page = await log.QueryAsync(new("thin", null, null, null, null, null, null, 10, null, start.AddDays(-1)), CancellationToken.None);
        Assert.That(page.Items, Has.Count.EqualTo(2));
        Assert.That(await RowCountsAsync(gateway, "thin"), Is.EqualTo("2"), "written by the read, as one row");

        // Held no longer than HoldFor: a later write, of another organization's records, takes them along.
        var held = System.Diagnostics.Stopwatch.StartNew();
        await log.AppendAsync([.. Records("quiet", 3)], CancellationToken.None);
        await Eventually.ValueAsync(
            async () =>
            {
                await log.AppendAsync([.. Records("other", 1)], CancellationToken.None);
                return await RowCountsAsync(gateway, "quiet");
            },
            counts => counts == "3",
            TimeSpan.FromSeconds(15),
            "the quiet organization's row");
        Assert.That(held.Elapsed, Is.GreaterThanOrEqualTo(Gateway.RequestLog.SqliteRequestLogStore.HoldFor - TimeSpan.FromMilliseconds(50)), "not before its time");

        // A lookup by request id writes every organization's held records first.
        var other = StoredRecord(start, "other-sought", "other");
        await log.AppendAsync([other], CancellationToken.None);
        Assert.That((await log.FindAsync("other-sought", start.AddDays(-1), CancellationToken.None))?.OrgId, Is.EqualTo("other"));
    }

    [Test]
    public async Task Read_WriterBusy_ShowsWhatIsStoredWithoutWaitingAndTheHeldRecordsFollow()
    {
        if (store != StoreKind.Sqlite)
        {
            Assert.Ignore("Rows are the embedded store's.");
        }

        await using var gateway = await StartAsync();
        var log = gateway.Services.GetRequiredService<Gateway.RequestLog.IRequestLogStore>();
        var start = DateTimeOffset.UtcNow.AddMinutes(-1);
        await log.AppendAsync([StoredRecord(start, "held-1", "acme")], CancellationToken.None);

        using var release = new ManualResetEventSlim();
        var busy = gateway.Services.GetRequiredService<Gateway.Stores.Sqlite.SqliteBackgroundWriter>()
            .RunAsync(_ => release.Wait(TimeSpan.FromSeconds(30)), CancellationToken.None);
        try
        {
            var read = log.QueryAsync(new("acme", null, null, null, null, null, null, 10, null, start.AddDays(-1)), CancellationToken.None);
            Assert.That(await Task.WhenAny(read, Task.Delay(TimeSpan.FromSeconds(15))), Is.SameAs(read), "the read did not wait for the busy writer");
            Assert.That((await read).Items, Is.Empty, "what is stored: the held record is not yet");
        }
        finally
        {
            release.Set();
            await busy;
        }

        await Eventually.ValueAsync(() => RowCountsAsync(gateway, "acme"), counts => counts == "1", TimeSpan.FromSeconds(15), "the held record, written once the writer was free");
    }

    [Test]
    public async Task ProxiedRequest_NoReadAfterIt_ItsRecordStoredOnceTheWriterIsIdleAndOnStop()
    {
        if (store != StoreKind.Sqlite)
        {
            Assert.Ignore("Rows are the embedded store's.");
        }

        await using (var gateway = await StartAsync())
        {
            await gateway.CreateOrgAsync("acme");
            var key = (await gateway.CreateKeyAsync("acme", new { name = "svc" }))["key"]!.GetValue<string>();
            Assert.That(await gateway.StatusAsync(key), Is.EqualTo(HttpStatusCode.OK));
            await Eventually.ValueAsync(() => RowCountsAsync(gateway, "acme"), counts => counts == "1", TimeSpan.FromSeconds(15), "the record, written once the writer had nothing new");
        }

        var directory = Path.Combine(Path.GetTempPath(), "gw-tests", Guid.NewGuid().ToString("N"));
        var stopped = await GatewayHost.StartAsync(GatewayHost.Routes(_upstream.Url, ("api", "/api/{**rest}", [])), directory: directory);
        try
        {
            await stopped.CreateOrgAsync("acme");
            var key = (await stopped.CreateKeyAsync("acme", new { name = "svc" }))["key"]!.GetValue<string>();
            for (var i = 0; i < 3; i++)
            {
                Assert.That(await stopped.StatusAsync(key), Is.EqualTo(HttpStatusCode.OK));
            }

            await stopped.StopForRestartAsync();

            // Summed: a stall of a second between two requests lets the idle writer store the first ones on their own.
            var stored = (await RowCountsAsync(stopped, "acme"))?.Split(',').Sum(c => int.Parse(c, System.Globalization.CultureInfo.InvariantCulture));
            Assert.That(stored, Is.EqualTo(3), "what was held, written on stop");
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    /// <summary>The record counts of an organization's rows, oldest row first ("64,2"), or null when it has none.</summary>
    private static async Task<string?> RowCountsAsync(GatewayHost gateway, string org)
    {
        await using var connection = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={Path.Combine(gateway.Directory, "gateway.db")};Mode=ReadOnly;Pooling=False");
        await connection.OpenAsync();
        await using var command = connection.CreateCommand();
        command.CommandText = "SELECT group_concat(count) FROM (SELECT count FROM request_log_batches WHERE org_id = $org ORDER BY seq);";
        command.Parameters.AddWithValue("$org", org);
        return await command.ExecuteScalarAsync() as string;
    }

    [Test]
    public async Task Append_OneOrganizationPastARowsWorth_RowsOfAtMost500_AllFoundNewestFirst()
    {
        if (store != StoreKind.Sqlite)
        {
            Assert.Ignore("Rows are the embedded store's.");
        }

        var directory = Path.Combine(Path.GetTempPath(), "gw-tests", Guid.NewGuid().ToString("N"));
        await using var gateway = await GatewayHost.StartAsync(GatewayHost.Routes(_upstream.Url, ("api", "/api/{**rest}", [])), directory: directory);
        await gateway.CreateOrgAsync("busy");
        var log = gateway.Services.GetRequiredService<Gateway.RequestLog.IRequestLogStore>();
        var start = DateTimeOffset.UtcNow.AddMinutes(-1);

        // One write of 1,200 records, as one gathering of a busy organization reaches the store.
        await log.AppendAsync(Enumerable.Range(0, 1200).Select(i => StoredRecord(start.AddMilliseconds(i), "busy-" + i, "busy")).ToList(), CancellationToken.None);

        await using (var connection = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={Path.Combine(directory, "gateway.db")};Mode=ReadOnly;Pooling=False"))
        {
            await connection.OpenAsync();
            await using var command = connection.CreateCommand();
            command.CommandText = "SELECT group_concat(count) FROM (SELECT count FROM request_log_batches WHERE org_id = 'busy' ORDER BY seq);";
            Assert.That(await command.ExecuteScalarAsync(), Is.EqualTo("500,500,200"));
        }

        var all = (await ListAsync(gateway, "admin/orgs/busy/requests?limit=1000"))["items"]!.AsArray();
        Assert.That(all, Has.Count.EqualTo(1000));
        Assert.That(all.Select(i => i!["requestId"]!.GetValue<string>()), Is.EqualTo(Enumerable.Range(200, 1000).Reverse().Select(i => "busy-" + i)));
        foreach (var i in new[] { 0, 499, 500, 999, 1000, 1199 })
        {
            Assert.That((await log.FindAsync("busy-" + i, start.AddDays(-1), CancellationToken.None))?.OrgId, Is.EqualTo("busy"), $"busy-{i}");
        }
    }

    [Test]
    public async Task Retention_RecordsOlderThanRetention_AreGone()
    {
        var clock = new FakeTimeProvider(DateTimeOffset.UtcNow);
        await using var gateway = await StartAsync(new() { ["Gateway:RequestLog:Retention"] = "01:00:00" }, s => s.AddSingleton<TimeProvider>(clock));
        await gateway.CreateOrgAsync("acme");
        var key = (await gateway.CreateKeyAsync("acme", new { name = "svc" }))["key"]!.GetValue<string>();
        (await gateway.CallAsync("/api/old", key)).Dispose();
        (await gateway.CallAsync("/api/old", key)).Dispose();
        await WaitForItemsAsync(gateway, "admin/orgs/acme/requests", 2);

        clock.Advance(TimeSpan.FromMinutes(61));
        (await gateway.CallAsync("/api/new", key)).Dispose();
        var items = await Eventually.ValueAsync(
            async () => (await ListAsync(gateway, "admin/orgs/acme/requests"))["items"]!.AsArray(),
            i => i.Count == 1,
            TimeSpan.FromSeconds(15),
            "only the record within the retention");
        Assert.That(items[0]!["path"]!.GetValue<string>(), Is.EqualTo("/api/new"));

        if (store == StoreKind.Sqlite)
        {
            // Reads filter on the retention themselves: the rows must also be gone from the table.
            await Eventually.ValueAsync(
                async () =>
                {
                    await using var connection = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={Path.Combine(gateway.Directory, "gateway.db")};Mode=ReadOnly;Pooling=False");
                    await connection.OpenAsync();
                    await using var command = connection.CreateCommand();
                    command.CommandText = "SELECT group_concat(json_extract(r.value, '$[5]')) FROM request_log_batches b, json_each(b.records) r WHERE b.org_id = 'acme';";
                    return (string?)await command.ExecuteScalarAsync();
                },
                paths => paths == "/api/new",
                TimeSpan.FromSeconds(15),
                "only the new record in the table");
        }
    }

    [Test]
    public async Task Unattributed_ScopedViewer_IsRefused()
    {
        await using var gateway = await StartAsync();
        await gateway.CreateOrgAsync("acme");
        var token = (await gateway.AdminPostAsync("admin/tokens", new { name = "viewer1", role = "viewer", org = "acme" }, 201))["token"]!.GetValue<string>();
        using var client = new HttpClient { BaseAddress = gateway.AdminUrl };
        client.DefaultRequestHeaders.Authorization = new("Bearer", token);
        using var all = await client.GetAsync("admin/requests");
        Assert.That(all.StatusCode, Is.EqualTo(HttpStatusCode.Forbidden));
        using var own = await client.GetAsync("admin/orgs/acme/requests");
        Assert.That(own.StatusCode, Is.EqualTo(HttpStatusCode.OK));
    }
}
