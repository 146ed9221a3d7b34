using System.Net;
using Gateway.Cli;
using Gateway.Tests.Common;
using Microsoft.Extensions.DependencyInjection;
using StackExchange.Redis;

namespace Gateway.Tests.Stores;

/// <summary>Several gateways on one real redis-server: shared state, invalidation, no key material, migration.</summary>
public sealed class RedisStoreTests
{
    private Upstream _upstream = null!;

    [OneTimeSetUp]
    public void StartUpstream() => _upstream = Upstream.Start();

    [OneTimeTearDown]
    public void StopUpstream() => _upstream.Dispose();

    [TestCase("revoke", "key_revoked")]
    [TestCase("deactivate", "key_inactive")]
    [TestCase("rotate", "invalid_key")]
    public async Task TwoInstances_ChangeOnA_InForceOnBWithinOneSecond(string action, string code)
    {
        var prefix = $"t{Guid.NewGuid():N}:";
        // A long fresh period proves pub/sub does the work, not cache expiry.
        var settings = Routes();
        settings["Gateway:Cache:FreshFor"] = "00:01:00";
        await using var a = await GatewayHost.StartAsync(settings, store: StoreKind.Redis, redisPrefix: prefix);
        await using var b = await GatewayHost.StartAsync(settings, store: StoreKind.Redis, redisPrefix: prefix);
        await a.CreateOrgAsync("acme");
        var key = await a.CreateKeyAsync("acme", new { name = "svc" });
        var plaintext = key["key"]!.GetValue<string>();
        Assert.That(await b.StatusAsync(plaintext), Is.EqualTo(HttpStatusCode.OK), "B resolves A's key from Redis and caches it");

        await a.AdminPostAsync($"admin/keys/{key["id"]!.GetValue<string>()}/{action}");
        var seen = await Eventually.ValueAsync(
            async () =>
            {
                using var response = await b.CallAsync("/api/x", plaintext);
                return response.StatusCode == HttpStatusCode.Unauthorized ? (await GatewayHost.ProblemAsync(response))["code"]!.GetValue<string>() : null;
            },
            static c => c is not null,
            TimeSpan.FromSeconds(1),
            "B refusing the key changed on A");

        Assert.That(seen, Is.EqualTo(code));
    }

    [Test]
    public async Task TwoInstances_PatchOnA_ScopesChangeOnB()
    {
        var prefix = $"t{Guid.NewGuid():N}:";
        var settings = Routes();
        settings["Gateway:Cache:FreshFor"] = "00:01:00";
        await using var a = await GatewayHost.StartAsync(settings, store: StoreKind.Redis, redisPrefix: prefix);
        await using var b = await GatewayHost.StartAsync(settings, store: StoreKind.Redis, redisPrefix: prefix);
        await a.CreateOrgAsync("acme");
        var key = await a.CreateKeyAsync("acme", new { name = "svc", scopes = new[] { "read" } });
        var plaintext = key["key"]!.GetValue<string>();
        Assert.That(await b.StatusAsync(plaintext, "/writes/x"), Is.EqualTo(HttpStatusCode.Forbidden));

        using (var patch = await a.Admin.PatchAsync($"admin/keys/{key["id"]!.GetValue<string>()}", System.Net.Http.Json.JsonContent.Create(new { scopes = new[] { "read", "write" } })))
        {
            Assert.That(patch.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        }

        await GatewayHost.WaitForAsync(async () => await b.StatusAsync(plaintext, "/writes/x") == HttpStatusCode.OK, TimeSpan.FromSeconds(1));
    }

    [Test]
    public async Task FullLifecycle_NoPlaintextKeyAnywhereInRedis()
    {
        var prefix = $"t{Guid.NewGuid():N}:";
        var plaintexts = new List<string>();
        await using (var gateway = await GatewayHost.StartAsync(Routes(), store: StoreKind.Redis, redisPrefix: prefix))
        {
            var org = await gateway.CreateOrgAsync("acme");
            plaintexts.Add(org["defaultKey"]!["key"]!.GetValue<string>());
            var key = await gateway.CreateKeyAsync("acme", new { name = "svc", customerId = "c1" });
            var id = key["id"]!.GetValue<string>();
            plaintexts.Add(key["key"]!.GetValue<string>());
            Assert.That(await gateway.StatusAsync(plaintexts[^1]), Is.EqualTo(HttpStatusCode.OK));
            var rotated = await gateway.AdminPostAsync($"admin/keys/{id}/rotate", new { gracePeriod = "00:10:00" });
            plaintexts.Add(rotated["key"]!.GetValue<string>());
            Assert.That(await gateway.StatusAsync(plaintexts[^1]), Is.EqualTo(HttpStatusCode.OK));
            await gateway.AdminPostAsync($"admin/keys/{id}/deactivate");
            await gateway.AdminPostAsync($"admin/keys/{id}/activate");
            await gateway.AdminPostAsync($"admin/keys/{id}/revoke");
            var rotatedDefault = await gateway.AdminPostAsync($"admin/keys/{org["defaultKey"]!["id"]!.GetValue<string>()}/rotate");
            plaintexts.Add(rotatedDefault["key"]!.GetValue<string>());
        }

        using var redis = await ConnectionMultiplexer.ConnectAsync(RedisServer.Shared.ConnectionString);
        var server = redis.GetServer(redis.GetEndPoints()[0]);
        var db = redis.GetDatabase();
        var dump = new System.Text.StringBuilder();
        var count = 0;
        await foreach (var redisKey in server.KeysAsync(pattern: prefix + "*"))
        {
            count++;
            dump.AppendLine(redisKey.ToString());
            switch (await db.KeyTypeAsync(redisKey))
            {
                case RedisType.String:
                    dump.AppendLine(await db.StringGetAsync(redisKey));
                    break;
                case RedisType.Hash:
                    foreach (var entry in await db.HashGetAllAsync(redisKey))
                    {
                        dump.Append(entry.Name.ToString()).Append('=').AppendLine(entry.Value.ToString());
                    }

                    break;
                case RedisType.Set:
                    dump.AppendJoin(',', await db.SetMembersAsync(redisKey)).AppendLine();
                    break;
                case RedisType.SortedSet:
                    dump.AppendJoin(',', await db.SortedSetRangeByRankAsync(redisKey)).AppendLine();
                    break;
                case RedisType.List:
                    dump.AppendJoin(',', await db.ListRangeAsync(redisKey)).AppendLine();
                    break;
                case RedisType.Stream:
                    foreach (var entry in await db.StreamRangeAsync(redisKey))
                    {
                        dump.AppendJoin(',', entry.Values.Select(v => v.Value.ToString())).AppendLine();
                    }

                    break;
                default:
                    Assert.Fail($"unexpected type for {redisKey}");
                    break;
            }
        }

        Assert.That(count, Is.GreaterThan(5), "the lifecycle wrote to Redis");
        var text = dump.ToString();
        Assert.That(text, Does.Contain(Gateway.Keys.ApiKeyFormat.Hash(plaintexts[2])), "the hash index is there");
        foreach (var plaintext in plaintexts)
        {
            Assert.That(text, Does.Not.Contain(plaintext));
            Assert.That(text, Does.Not.Contain(plaintext[14..]), "not even the secret part");
        }
    }

    [Test]
    public async Task MigrateStore_CopiesOrgsKeysAndAudit_KeysKeepWorkingOnRedis()
    {
        string live, revoked, rotatedOld;
        string liveId;
        var prefix = $"t{Guid.NewGuid():N}:";
        using var output = new StringWriter();
        using var error = new StringWriter();
        await using (var embedded = await GatewayHost.StartAsync(Routes()))
        {
            await embedded.CreateOrgAsync("acme");
            var k1 = await embedded.CreateKeyAsync("acme", new { name = "live", scopes = new[] { "read" }, customerId = "c9" });
            live = k1["key"]!.GetValue<string>();
            liveId = k1["id"]!.GetValue<string>();
            var k2 = await embedded.CreateKeyAsync("acme", new { name = "gone" });
            revoked = k2["key"]!.GetValue<string>();
            await embedded.AdminPostAsync($"admin/keys/{k2["id"]!.GetValue<string>()}/revoke");
            var k3 = await embedded.CreateKeyAsync("acme", new { name = "rotating" });
            rotatedOld = k3["key"]!.GetValue<string>();
            await embedded.AdminPostAsync($"admin/keys/{k3["id"]!.GetValue<string>()}/rotate", new { gracePeriod = "01:00:00" });
            Assert.That(await embedded.StatusAsync(live), Is.EqualTo(HttpStatusCode.OK));
            await embedded.Services.GetRequiredService<Gateway.Keys.KeyUsageTracker>().FlushAsync(CancellationToken.None);

            // The running gateway's store, read while it serves (WAL allows it).
            var code = await AdminCli.RunAsync(["migrate-store", "--from", Path.Combine(embedded.Directory, "gateway.db"), "--to-redis", RedisServer.Shared.ConnectionString, "--prefix", prefix], output, error);
            Assert.That(code, Is.Zero, error.ToString());
        }

        Assert.That(output.ToString(), Does.Contain("Organizations: 1 created").And.Contain("Keys: 4 created"));

        await using var shared = await GatewayHost.StartAsync(Routes(), store: StoreKind.Redis, redisPrefix: prefix);
        Assert.That(await shared.StatusAsync(live), Is.EqualTo(HttpStatusCode.OK));
        Assert.That(_upstream.Received[^1].RequestMessage.Headers!["X-Customer-Id"].Single(), Is.EqualTo("c9"));
        Assert.That(await shared.CodeAsync(revoked), Is.EqualTo("key_revoked"));
        Assert.That(await shared.StatusAsync(rotatedOld), Is.EqualTo(HttpStatusCode.OK), "the grace period came along");
        var audit = await shared.AdminGetAsync("admin/audit?org=acme");
        Assert.That(audit["items"]!.AsArray().Select(e => e!["action"]!.GetValue<string>()).First(), Is.EqualTo("key.rotate"));
        Assert.That(audit["items"]!.AsArray().Select(e => e!["action"]!.GetValue<string>()).Last(), Is.EqualTo("org.create"));
        var key = await shared.AdminGetAsync($"admin/keys/{liveId}");
        Assert.That(key["name"]!.GetValue<string>(), Is.EqualTo("live"));
        using (var dupe = await shared.Admin.PostAsync("admin/orgs/acme/keys", System.Net.Http.Json.JsonContent.Create(new { name = "live" })))
        {
            Assert.That(dupe.StatusCode, Is.EqualTo(HttpStatusCode.Conflict), "name uniqueness came along");
        }
    }

    private Dictionary<string, string?> Routes() =>
        GatewayHost.Routes(_upstream.Url, ("api", "/api/{**rest}", []), ("writes", "/writes/{**rest}", [("RequiredScopes", "write")]));

}
