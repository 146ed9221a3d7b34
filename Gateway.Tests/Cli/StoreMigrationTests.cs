using System.Net;
using Gateway.Cli;
using Gateway.Tests.Common;

namespace Gateway.Tests.Cli;

/// <summary>
/// <c>migrate-store</c> run a second time after Redis moved on: nothing Redis holds in a newer version is
/// overwritten (a key revoked there stays revoked), no audit entry or key is lost or doubled, and what the
/// second run does change reaches gateways that cached the old record.
/// </summary>
public sealed class StoreMigrationTests
{
    [Test]
    public async Task MigrateStore_RunTwice_KeepsNewerRedisRecordsAndAudit_PublishesWhatItChanges()
    {
        using var upstream = Upstream.Start();
        var routes = GatewayHost.Routes(upstream.Url, ("api", "/api/{**rest}", []));
        var prefix = $"t{Guid.NewGuid():N}:";
        await using var embedded = await GatewayHost.StartAsync(routes);
        var file = Path.Combine(embedded.Directory, "gateway.db");
        await embedded.CreateOrgAsync("acme");
        var revokedLater = await embedded.CreateKeyAsync("acme", new { name = "revoked_on_redis" });
        var changedLater = await embedded.CreateKeyAsync("acme", new { name = "deactivated_in_sqlite" });

        Assert.That(await MigrateAsync(file, prefix), Does.Contain("Copied 1 organizations, 3 keys"));

        var shared = new Dictionary<string, string?>(routes) { ["Gateway:Cache:FreshFor"] = "00:10:00", ["Gateway:Cache:StaleFor"] = "00:20:00" };
        await using var running = await GatewayHost.StartAsync(shared, store: StoreKind.Redis, redisPrefix: prefix);
        await running.AdminPostAsync($"admin/keys/{Id(revokedLater)}/revoke");
        var bornOnRedis = await running.CreateKeyAsync("acme", new { name = "born_on_redis" });
        Assert.That(await running.StatusAsync(Key(changedLater)), Is.EqualTo(HttpStatusCode.OK), "cached for ten minutes");

        // Meanwhile the old single instance still runs and changes a key.
        await embedded.AdminPostAsync($"admin/keys/{Id(changedLater)}/deactivate");

        var second = await MigrateAsync(file, prefix);

        Assert.That(second, Does.Contain("Copied 1 organizations, 1 keys"));
        Assert.That(second, Does.Contain("2 keys"), "left alone: the one revoked on Redis and the unchanged default key");
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
    }

    private static async Task<string> MigrateAsync(string file, string prefix)
    {
        using var output = new StringWriter();
        using var error = new StringWriter();
        var code = await AdminCli.RunAsync(["migrate-store", "--from", file, "--to-redis", RedisServer.Shared.ConnectionString, "--prefix", prefix], output, error);
        Assert.That(code, Is.Zero, error.ToString());
        return output.ToString();
    }

    private static string Id(System.Text.Json.Nodes.JsonObject key) => key.Str("id");

    private static string Key(System.Text.Json.Nodes.JsonObject key) => key.Str("key");
}
