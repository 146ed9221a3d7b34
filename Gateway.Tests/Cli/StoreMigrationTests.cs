using System.Net;
using System.Text.Json.Nodes;
using Gateway.Cli;
using Gateway.Tests.Common;
using StackExchange.Redis;

namespace Gateway.Tests.Cli;

/// <summary>
/// <c>migrate-store</c> run again after both stores moved on. Each side's changes since the last copy are told
/// apart by the record of the copy kept on Redis, never by comparing the two stores' independent version
/// counters: a key changed only in SQLite is updated (and gateways that cached it follow), a key changed only
/// on Redis is untouched, and a key changed on both sides is a conflict that leaves Redis's record alone and
/// fails the command. A key revoked on Redis is never revived.
/// </summary>
public sealed class StoreMigrationTests
{
    [Test]
    public async Task MigrateStore_KeyRevokedOnRedisAndPatchedTwiceInSqlite_StaysRevokedAndExitsWithConflict()
    {
        using var upstream = Upstream.Start();
        var routes = GatewayHost.Routes(upstream.Url, ("api", "/api/{**rest}", []));
        var prefix = $"t{Guid.NewGuid():N}:";
        await using var embedded = await GatewayHost.StartAsync(routes);
        var file = Path.Combine(embedded.Directory, "gateway.db");
        await embedded.CreateOrgAsync("acme");
        var victim = await embedded.CreateKeyAsync("acme", new { name = "victim" });
        Assert.That((await MigrateAsync(file, prefix)).Code, Is.Zero);

        await using var redisGateway = await GatewayHost.StartAsync(routes, store: StoreKind.Redis, redisPrefix: prefix);
        await redisGateway.AdminPostAsync($"admin/keys/{Id(victim)}/revoke");
        var revokedVersion = await RedisVersionAsync(prefix, Id(victim));

        // The old instance still runs on SQLite and changes the same key twice: its version counter passes Redis's.
        await PatchAsync(embedded, Id(victim), new { description = "first" });
        await PatchAsync(embedded, Id(victim), new { description = "second" });

        var second = await MigrateAsync(file, prefix);

        Assert.That(second.Code, Is.EqualTo(StoreMigration.ConflictExitCode), second.Error);
        Assert.That(second.Error, Does.Contain("conflict: " + Id(victim)).And.Contain("revoked on Redis"));
        Assert.That(second.Output, Does.Contain("0 updated from SQLite").And.Contain("1 in conflict"));
        Assert.That(await RedisVersionAsync(prefix, Id(victim)), Is.EqualTo(revokedVersion), "Redis's record was not written");
        Assert.That((await redisGateway.AdminGetAsync($"admin/keys/{Id(victim)}")).Str("status"), Is.EqualTo("revoked"));
        Assert.That(await redisGateway.CodeAsync(Key(victim)), Is.EqualTo("key_revoked"));
        await using (var fresh = await GatewayHost.StartAsync(routes, store: StoreKind.Redis, redisPrefix: prefix))
        {
            Assert.That(await fresh.CodeAsync(Key(victim)), Is.EqualTo("key_revoked"), "an instance with nothing cached reads the store");
            var actions = (await fresh.AdminGetAsync("admin/audit?org=acme&limit=100"))["items"]!.AsArray().Select(e => e!.Str("action")).ToList();
            Assert.That(actions, Has.No.Member("key.update"), "the SQLite changes that were not applied are not in Redis's audit");
        }

        // Settled in Redis's favour: nothing written, and later runs no longer report the key.
        var settled = await MigrateAsync(file, prefix, "--keep-redis");
        Assert.That(settled.Code, Is.Zero, settled.Error);
        Assert.That(settled.Output, Does.Contain("kept Redis's record of " + Id(victim)));
        var third = await MigrateAsync(file, prefix);
        Assert.That(third.Code, Is.Zero, third.Error);
        Assert.That(third.Output, Does.Contain("0 in conflict"));
        Assert.That(await RedisVersionAsync(prefix, Id(victim)), Is.EqualTo(revokedVersion));
        Assert.That(await redisGateway.CodeAsync(Key(victim)), Is.EqualTo("key_revoked"));
    }

    [Test]
    public async Task MigrateStore_RunTwice_UpdatesWhatChangedOnlyInSqlite_LeavesWhatChangedOnlyOnRedis_PublishesWhatItChanges()
    {
        using var upstream = Upstream.Start();
        var routes = GatewayHost.Routes(upstream.Url, ("api", "/api/{**rest}", []));
        var prefix = $"t{Guid.NewGuid():N}:";
        await using var embedded = await GatewayHost.StartAsync(routes);
        var file = Path.Combine(embedded.Directory, "gateway.db");
        await embedded.CreateOrgAsync("acme");
        var revokedLater = await embedded.CreateKeyAsync("acme", new { name = "revoked_on_redis" });
        var changedLater = await embedded.CreateKeyAsync("acme", new { name = "deactivated_in_sqlite" });

        var first = await MigrateAsync(file, prefix);
        Assert.That(first.Code, Is.Zero, first.Error);
        Assert.That(first.Output, Does.Contain("Organizations: 1 created").And.Contain("Keys: 3 created, 0 updated"));

        var shared = new Dictionary<string, string?>(routes) { ["Gateway:Cache:FreshFor"] = "00:10:00", ["Gateway:Cache:StaleFor"] = "00:20:00" };
        await using var running = await GatewayHost.StartAsync(shared, store: StoreKind.Redis, redisPrefix: prefix);
        await running.AdminPostAsync($"admin/keys/{Id(revokedLater)}/revoke");
        var bornOnRedis = await running.CreateKeyAsync("acme", new { name = "born_on_redis" });
        Assert.That(await running.StatusAsync(Key(changedLater)), Is.EqualTo(HttpStatusCode.OK), "cached for ten minutes");
        var versionBefore = await RedisVersionAsync(prefix, Id(changedLater));

        // Meanwhile the old single instance still runs and changes another key.
        await embedded.AdminPostAsync($"admin/keys/{Id(changedLater)}/deactivate");

        var second = await MigrateAsync(file, prefix);

        Assert.That(second.Code, Is.Zero, second.Error);
        Assert.That(second.Output, Does.Contain("Organizations: 0 created, 1 already in Redis"));
        Assert.That(second.Output, Does.Contain("Keys: 0 created, 1 updated from SQLite; 2 untouched (1 unchanged since the last copy, 1 changed only on Redis"));
        Assert.That(await RedisVersionAsync(prefix, Id(changedLater)), Is.EqualTo(versionBefore + 1), "Redis's counter goes on from Redis's value");
        await GatewayHost.WaitForAsync(async () => await running.StatusAsync(Key(changedLater)) == HttpStatusCode.Unauthorized, TimeSpan.FromSeconds(10));

        await using var fresh = await GatewayHost.StartAsync(routes, store: StoreKind.Redis, redisPrefix: prefix);
        Assert.That(await fresh.CodeAsync(Key(revokedLater)), Is.EqualTo("key_revoked"), "not revived by the older SQLite record");
        Assert.That(await fresh.CodeAsync(Key(changedLater)), Is.EqualTo("key_inactive"));
        Assert.That(await fresh.StatusAsync(Key(bornOnRedis)), Is.EqualTo(HttpStatusCode.OK));
        var listed = (await fresh.AdminGetAsync("admin/orgs/acme/keys"))["items"]!.AsArray().Select(k => k!.Str("name"));
        Assert.That(listed, Is.EquivalentTo(new[] { "default", "revoked_on_redis", "deactivated_in_sqlite", "born_on_redis" }));

        var actions = (await fresh.AdminGetAsync("admin/audit?org=acme&limit=100"))["items"]!.AsArray().Select(e => e!.Str("action")).ToList();
        Assert.That(actions.Count(a => a == "org.create"), Is.EqualTo(1), "copied once");
        Assert.That(actions, Has.Member("key.revoke"), "Redis's own audit entries stay");
        Assert.That(actions.Count(a => a == "key.create"), Is.EqualTo(3));
        Assert.That(actions, Has.Member("key.deactivate"), "the entry written in SQLite since the first run came along");

        // Nothing changed since: a third run writes nothing.
        var third = await MigrateAsync(file, prefix);
        Assert.That(third.Output, Does.Contain("Keys: 0 created, 0 updated from SQLite; 3 untouched"));
    }

    [Test]
    public async Task MigrateStore_KeyCopiedWithoutRecordOfTheCopy_SameIsUntouchedDifferentIsConflict()
    {
        using var upstream = Upstream.Start();
        var routes = GatewayHost.Routes(upstream.Url, ("api", "/api/{**rest}", []));
        var prefix = $"t{Guid.NewGuid():N}:";
        await using var embedded = await GatewayHost.StartAsync(routes);
        var file = Path.Combine(embedded.Directory, "gateway.db");
        await embedded.CreateOrgAsync("acme");
        var key = await embedded.CreateKeyAsync("acme", new { name = "svc" });
        Assert.That((await MigrateAsync(file, prefix)).Code, Is.Zero);

        // As an earlier migrate-store left it: the record, no record of the copy.
        await ForgetCopyAsync(prefix, Id(key));
        var same = await MigrateAsync(file, prefix);
        Assert.That(same.Code, Is.Zero, same.Error);
        Assert.That(same.Output, Does.Contain("0 updated from SQLite; 2 untouched (2 unchanged"));

        await ForgetCopyAsync(prefix, Id(key));
        await PatchAsync(embedded, Id(key), new { description = "changed in SQLite" });
        var different = await MigrateAsync(file, prefix);
        Assert.That(different.Code, Is.EqualTo(StoreMigration.ConflictExitCode));
        Assert.That(different.Error, Does.Contain("conflict: " + Id(key)));
    }

    private static async Task<(int Code, string Output, string Error)> MigrateAsync(string file, string prefix, params string[] extra)
    {
        using var output = new StringWriter();
        using var error = new StringWriter();
        var code = await AdminCli.RunAsync(["migrate-store", "--from", file, "--to-redis", RedisServer.Shared.ConnectionString, "--prefix", prefix, .. extra], output, error);
        return (code, output.ToString(), error.ToString());
    }

    private static async Task<long> RedisVersionAsync(string prefix, string keyId)
    {
        await using var redis = await ConnectionMultiplexer.ConnectAsync(RedisServer.Shared.ConnectionString);
        return (long)await redis.GetDatabase().HashGetAsync(prefix + "{store}:key:" + keyId, "version");
    }

    private static async Task ForgetCopyAsync(string prefix, string keyId)
    {
        await using var redis = await ConnectionMultiplexer.ConnectAsync(RedisServer.Shared.ConnectionString);
        Assert.That(await redis.GetDatabase().HashDeleteAsync(prefix + "{store}:key:" + keyId, "copied"), Is.True);
    }

    private static async Task PatchAsync(GatewayHost gateway, string id, object body)
    {
        using var response = await gateway.Admin.PatchAsync($"admin/keys/{id}", System.Net.Http.Json.JsonContent.Create(body));
        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK), await response.Content.ReadAsStringAsync());
    }

    private static string Id(JsonObject key) => key.Str("id");

    private static string Key(JsonObject key) => key.Str("key");
}
