using System.Net;
using Gateway.Cli;
using Gateway.Tests.Common;
using Gateway.Tests.Operators;
using Gateway.Tests.Stores;
using Gateway.Tests.Webhooks;

namespace Gateway.Tests.Cli;

/// <summary>
/// <c>migrate-store</c> as the ACL user docs/redis.md recommends for the gateway: it copies everything with exactly those
/// rules, and when Redis refuses a command (a user with fewer rights) it says that Redis refused, what, and what the
/// user needs, never that Redis did not answer; that the copy stopped part-way; and that running it again completes it.
/// </summary>
public sealed class StoreMigrationAclTests
{
    private const string AdminPassword = "admin-secret-pw";

    [Test]
    public async Task MigrateStore_AsTheDocumentedAclUser_CopiesEverythingAndRedisDeniesNothing()
    {
        using var redis = RedisServer.Start("--requirepass", AdminPassword);
        SetUser(redis, RedisAuthTests.AclRules);
        using var receiver = new WebhookReceiver();
        using var upstream = Upstream.Start();
        var settings = Settings(upstream);
        await using var embedded = await GatewayHost.StartAsync(settings);
        var file = Path.Combine(embedded.Directory, "gateway.db");
        var (key, hookId) = await FillAsync(embedded, receiver.Url);

        var run = await MigrateAsync(file, AsUser(redis));

        Assert.That(run.Code, Is.Zero, run.Output + run.Error);
        Assert.That(run.Output, Does.Contain("Admin tokens: 1 created").And.Contain("Customers: 1 created").And.Contain("Webhooks: 1 created")
            .And.Contain("deliveries: 1 copied").And.Contain("Quota and credit counters: 1 copied"));
        Assert.That(AclLog(redis), Is.Empty, "commands, keys or channels migrate-store was denied");

        // A gateway on the copy, as the same user: the quota used in SQLite carries over, and webhooks work there too.
        var onRedis = new Dictionary<string, string?>(settings) { ["Gateway:Store:Redis"] = AsUser(redis), ["Gateway:Store:RedisPrefix"] = "gw:" };
        await using var gateway = await GatewayHost.StartAsync(onRedis);
        Assert.That(await gateway.StatusAsync(key), Is.EqualTo(HttpStatusCode.OK), "1 of 2 used in SQLite, 1 left");
        Assert.That(await gateway.CodeAsync(key), Is.EqualTo("quota_exceeded"));
        Assert.That((await WebhookDeliveryTests.DeliveriesAsync(gateway, hookId))[0]!.Str("status"), Is.EqualTo("delivered"));
        var (second, _) = await WebhookDeliveryTests.CreateWebhookAsync(gateway, "acme", receiver.Url, "key.created");
        await gateway.CreateKeyAsync("acme", new { name = "after_the_move" });
        await Eventually.ValueAsync(
            () => WebhookDeliveryTests.DeliveriesAsync(gateway, second), d => d.Count == 1 && d[0]!.Str("status") == "delivered", TimeSpan.FromSeconds(20), "delivered from Redis");
        using (var deleted = await gateway.Admin.DeleteAsync($"admin/webhooks/{second}"))
        {
            Assert.That(deleted.StatusCode, Is.EqualTo(HttpStatusCode.NoContent), await deleted.Content.ReadAsStringAsync());
        }

        Assert.That(AclLog(redis), Is.Empty, "commands, keys or channels the gateway was denied");
    }

    [Test]
    public async Task MigrateStore_RedisRefusesACommand_SaysSoAndThatItStoppedPartWay_RunAgainCompletesIt()
    {
        using var redis = RedisServer.Start("--requirepass", AdminPassword);
        // The documented rules, but webhook keys out of the user's reach: Redis answers, and refuses.
        SetUser(redis, RedisAuthTests.AclRules.Replace("~gw:*", "~gw:{store}:* ~gw:q:*", StringComparison.Ordinal));
        using var receiver = new WebhookReceiver();
        using var upstream = Upstream.Start();
        var settings = Settings(upstream);
        await using var embedded = await GatewayHost.StartAsync(settings);
        var file = Path.Combine(embedded.Directory, "gateway.db");
        var (key, _) = await FillAsync(embedded, receiver.Url);

        var refused = await MigrateAsync(file, AsUser(redis));
        await TestContext.Out.WriteLineAsync(refused.Error);

        Assert.That(refused.Code, Is.EqualTo(StoreMigration.RefusedExitCode), refused.Output + refused.Error);
        Assert.That(refused.Error, Does.Not.Contain("did not answer"));
        Assert.That(refused.Error, Does.Contain("Redis refused").And.Contain("NOPERM"), "the server's own reason");
        Assert.That(refused.Error, Does.Contain(RedisAuthTests.AclRules.Replace("on >gw-secret-pw ", "", StringComparison.Ordinal)), "the rules the user needs");
        Assert.That(refused.Error, Does.Contain("stopped part-way").And.Contain("webhooks").And.Contain("Running migrate-store again is safe"));

        SetUser(redis, "~gw:*");
        var again = await MigrateAsync(file, AsUser(redis));

        Assert.That(again.Code, Is.Zero, again.Output + again.Error);
        Assert.That(again.Output, Does.Contain("Customers: 0 created, 1 already in Redis").And.Contain("Webhooks: 1 created").And.Contain("Keys: 2 created"));
        var onRedis = new Dictionary<string, string?>(settings) { ["Gateway:Store:Redis"] = AsUser(redis), ["Gateway:Store:RedisPrefix"] = "gw:" };
        await using var gateway = await GatewayHost.StartAsync(onRedis);
        Assert.That(await gateway.StatusAsync(key), Is.EqualTo(HttpStatusCode.OK));
        Assert.That(await gateway.CodeAsync(key), Is.EqualTo("quota_exceeded"), "the counter copied by the first run counted once");
    }

    /// <summary>An org with an admin token, a customer with a quota of 2 (1 used) and a key of it, and a webhook with one delivery.</summary>
    private static async Task<(string Key, string HookId)> FillAsync(GatewayHost embedded, string receiverUrl)
    {
        var file = Path.Combine(embedded.Directory, "gateway.db");
        await embedded.CreateOrgAsync("acme");
        await embedded.CreateTokenAsync("acme-viewer", "viewer", "acme");
        await embedded.AdminPostAsync("admin/orgs/acme/customers", new { id = "cust-1", name = "One", quota = new { limit = 2, period = "month" } }, expected: 201);
        var (hookId, _) = await WebhookDeliveryTests.CreateWebhookAsync(embedded, "acme", receiverUrl, "key.created");
        var key = (await embedded.CreateKeyAsync("acme", new { name = "metered", customerId = "cust-1" })).Str("key");
        Assert.That(await embedded.StatusAsync(key), Is.EqualTo(HttpStatusCode.OK));
        await Eventually.HoldsAsync(async () => await StoreMigrationFeatureTests.CountedAsync(file) >= 1, TimeSpan.FromSeconds(10), "the counter written back to SQLite");
        await Eventually.ValueAsync(
            () => WebhookDeliveryTests.DeliveriesAsync(embedded, hookId), d => d.Count == 1 && d[0]!.Str("status") == "delivered", TimeSpan.FromSeconds(20), "delivered from SQLite");
        return (key, hookId);
    }

    private static Dictionary<string, string?> Settings(Upstream upstream)
    {
        var settings = GatewayHost.Routes(upstream.Url, ("api", "/api/{**rest}", []));
        foreach (var (name, value) in WebhookDeliveryTests.FastSettings())
        {
            settings[name] = value;
        }

        return settings;
    }

    private static void SetUser(RedisServer redis, string rules) =>
        RedisSentinelSet.Commands(redis.Port, ["AUTH", AdminPassword], ["ACL", "SETUSER", "gw", .. rules.Split(' ')]);

    private static List<string?> AclLog(RedisServer redis) => RedisSentinelSet.Commands(redis.Port, ["AUTH", AdminPassword], ["ACL", "LOG"]);

    private static string AsUser(RedisServer redis) => $"{redis.ConnectionString},user=gw,password=gw-secret-pw";

    private static async Task<(int Code, string Output, string Error)> MigrateAsync(string file, string connection)
    {
        using var output = new StringWriter();
        using var error = new StringWriter();
        var code = await AdminCli.RunAsync(["migrate-store", "--from", file, "--to-redis", connection, "--prefix", "gw:"], output, error);
        return (code, output.ToString(), error.ToString());
    }
}
