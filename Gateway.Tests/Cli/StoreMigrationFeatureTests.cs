using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Gateway.Cli;
using Gateway.Tests.Common;
using Gateway.Tests.Operators;

namespace Gateway.Tests.Cli;

/// <summary>
/// <c>migrate-store</c> copies what the features beside keys keep in the store: admin tokens (operators keep
/// their access, a revoked token stays refused), customers (their quotas keep applying) and webhooks (same id
/// and secret). Run again, it leaves what Redis has and carries over a token revoked in SQLite since.
/// </summary>
public sealed class StoreMigrationFeatureTests
{
    [Test]
    public async Task MigrateStore_CopiesAdminTokensCustomersAndWebhooks_AgainCarriesOverARevocation()
    {
        using var upstream = Upstream.Start();
        var routes = GatewayHost.Routes(upstream.Url, ("api", "/api/{**rest}", []));
        foreach (var (name, value) in Webhooks.WebhookDeliveryTests.FastSettings())
        {
            routes[name] = value;
        }

        var prefix = $"t{Guid.NewGuid():N}:";
        await using var embedded = await GatewayHost.StartAsync(routes);
        var file = Path.Combine(embedded.Directory, "gateway.db");
        await embedded.CreateOrgAsync("acme");
        var viewer = await embedded.CreateTokenAsync("acme-viewer", "viewer", "acme");
        var later = await embedded.CreateTokenAsync("revoked-later", "viewer", "acme");
        var gone = await embedded.CreateTokenAsync("revoked-before", "admin");
        await embedded.AdminPostAsync($"admin/tokens/{gone.Str("id")}/revoke");
        await embedded.AdminPostAsync("admin/orgs/acme/customers", new { id = "cust-1", name = "One", quota = new { limit = 2, period = "month" } }, expected: 201);
        var key = (await embedded.CreateKeyAsync("acme", new { name = "metered", customerId = "cust-1" })).Str("key");
        using var hook = await embedded.Admin.PostAsJsonAsync("admin/orgs/acme/webhooks", new { url = "http://127.0.0.1:9/gw", events = new[] { "key.revoked" }, description = "billing" });
        Assert.That(hook.StatusCode, Is.EqualTo(HttpStatusCode.Created), await hook.Content.ReadAsStringAsync());
        var hookId = JsonNode.Parse(await hook.Content.ReadAsStringAsync())!.Str("id");

        var prepaid = (await embedded.CreateKeyAsync("acme", new { name = "prepaid", credits = new { remaining = 3 } })).Str("key");
        Assert.That(await embedded.StatusAsync(prepaid), Is.EqualTo(HttpStatusCode.OK));
        Assert.That(await embedded.StatusAsync(prepaid), Is.EqualTo(HttpStatusCode.OK));
        Assert.That(await embedded.StatusAsync(key), Is.EqualTo(HttpStatusCode.OK));
        await Eventually.HoldsAsync(async () => await CountedAsync(file) >= 3, TimeSpan.FromSeconds(10), "the counters written back to SQLite");

        var first = await MigrateAsync(file, prefix);
        Assert.That(first.Code, Is.Zero, first.Error);
        Assert.That(first.Output, Does.Contain("Admin tokens: 3 created, 0 already in Redis").And.Contain("Customers: 1 created").And.Contain("Webhooks: 1 created"));

        await using var redisGateway = await GatewayHost.StartAsync(routes, store: StoreKind.Redis, redisPrefix: prefix);
        using (var asViewer = redisGateway.ClientWith(viewer.Str("token")))
        using (var asGone = redisGateway.ClientWith(gone.Str("token")))
        {
            using var me = await asViewer.GetAsync("admin/me");
            Assert.That(me.StatusCode, Is.EqualTo(HttpStatusCode.OK), "the operator's token works on Redis");
            using var keys = await asViewer.GetAsync("admin/orgs/acme/keys");
            Assert.That(keys.StatusCode, Is.EqualTo(HttpStatusCode.OK), "with its role and organization");
            using var refused = await asGone.GetAsync("admin/me");
            Assert.That(refused.StatusCode, Is.EqualTo(HttpStatusCode.Unauthorized), "a revoked token stays refused");
        }

        var customer = await redisGateway.AdminGetAsync("admin/orgs/acme/customers/cust-1");
        Assert.That(customer["quota"]!["limit"]!.GetValue<long>(), Is.EqualTo(2));
        Assert.That(await redisGateway.StatusAsync(key), Is.EqualTo(HttpStatusCode.OK), "1 of 2 used in SQLite, 1 left");
        Assert.That(await redisGateway.CodeAsync(key), Is.EqualTo("quota_exceeded"), "the customer's quota and its count carry over");
        Assert.That(await redisGateway.StatusAsync(prepaid), Is.EqualTo(HttpStatusCode.OK), "2 of 3 credits used in SQLite, 1 left");
        Assert.That(await redisGateway.CodeAsync(prepaid), Is.EqualTo("credits_exhausted"), "credits are not handed out again");

        var copiedHook = await redisGateway.AdminGetAsync($"admin/webhooks/{hookId}");
        Assert.That(copiedHook.Str("url"), Is.EqualTo("http://127.0.0.1:9/gw"));
        Assert.That(copiedHook.Str("description"), Is.EqualTo("billing"));

        // The old instance revokes a token after the copy; the next run carries that over, and copies nothing twice.
        await embedded.AdminPostAsync($"admin/tokens/{later.Str("id")}/revoke");
        var second = await MigrateAsync(file, prefix);
        Assert.That(second.Code, Is.Zero, second.Error);
        Assert.That(second.Output, Does.Contain("Quota and credit counters: 2 copied"));
        Assert.That(await redisGateway.CodeAsync(prepaid), Is.EqualTo("credits_exhausted"), "a second run counts nothing twice, nor lowers Redis's count");
        Assert.That(second.Output, Does.Contain("Admin tokens: 0 created, 2 already in Redis, 1 revoked on Redis as in SQLite")
            .And.Contain("Customers: 0 created, 1 already in Redis").And.Contain("Webhooks: 0 created, 1 already in Redis"));
        using var asLater = redisGateway.ClientWith(later.Str("token"));
        using var revoked = await asLater.GetAsync("admin/me");
        Assert.That(revoked.StatusCode, Is.EqualTo(HttpStatusCode.Unauthorized), "revoked in SQLite, revoked on Redis");
    }

    [Test]
    public async Task MigrateStore_CopiesWebhookDeliveries_HistoryKeptAndPendingOnesDeliveredFromRedis()
    {
        using var accepting = new Webhooks.WebhookReceiver();
        using var down = new Webhooks.WebhookReceiver(failFirst: int.MaxValue);
        var settings = Webhooks.WebhookDeliveryTests.FastSettings();
        var prefix = $"t{Guid.NewGuid():N}:";
        var embedded = await GatewayHost.StartAsync(settings);
        var file = Path.Combine(embedded.Directory, "gateway.db");
        string delivered, pending, deliveredId, pendingId;
        try
        {
            await embedded.CreateOrgAsync("acme");
            (delivered, _) = await Webhooks.WebhookDeliveryTests.CreateWebhookAsync(embedded, "acme", accepting.Url, "key.created");
            (pending, _) = await Webhooks.WebhookDeliveryTests.CreateWebhookAsync(embedded, "acme", down.Url, "key.created");
            await embedded.CreateKeyAsync("acme", new { name = "svc" });
            deliveredId = (await Eventually.ValueAsync(
                () => Webhooks.WebhookDeliveryTests.DeliveriesAsync(embedded, delivered), d => d.Count == 1 && d[0]!.Str("status") == "delivered", TimeSpan.FromSeconds(20), "delivered from SQLite"))[0]!.Str("id");
            pendingId = (await Eventually.ValueAsync(
                () => Webhooks.WebhookDeliveryTests.DeliveriesAsync(embedded, pending), d => d.Count == 1 && d[0]!["attempts"]!.GetValue<int>() >= 2, TimeSpan.FromSeconds(20), "attempted and pending in SQLite"))[0]!.Str("id");
        }
        finally
        {
            // The old gateway stops before the copy, so the pending delivery is sent from Redis only.
            await embedded.StopForRestartAsync();
        }

        var first = await MigrateAsync(file, prefix);
        Assert.That(first.Code, Is.Zero, first.Error);
        Assert.That(first.Output, Does.Contain("Webhooks: 2 created, 0 already in Redis; deliveries: 2 copied (1 pending, delivered from Redis on), 0 already in Redis"));

        down.FailFirst = 0; // the receiver is back
        var before = down.Posts.Count;
        await using var redisGateway = await GatewayHost.StartAsync(settings, store: StoreKind.Redis, redisPrefix: prefix);

        var history = await Webhooks.WebhookDeliveryTests.DeliveriesAsync(redisGateway, delivered);
        Assert.That(history, Has.Count.EqualTo(1));
        Assert.That(history[0]!.Str("id"), Is.EqualTo(deliveredId));
        Assert.That(history[0]!.Str("status"), Is.EqualTo("delivered"));
        Assert.That(history[0]!["responseStatus"]!.GetValue<int>(), Is.EqualTo(204));
        Assert.That(history[0]!.Str("type"), Is.EqualTo("key.created"));

        var sent = await Eventually.ValueAsync(
            () => Webhooks.WebhookDeliveryTests.DeliveriesAsync(redisGateway, pending), d => d.Count == 1 && d[0]!.Str("status") == "delivered", TimeSpan.FromSeconds(20), "the pending delivery sent from Redis");
        Assert.That(sent[0]!.Str("id"), Is.EqualTo(pendingId));
        Assert.That(sent[0]!["attempts"]!.GetValue<int>(), Is.GreaterThan(2), "its attempts from SQLite go on counting");
        Assert.That(down.Posts.Skip(before).Select(p => (p.Id, p.Status)), Is.EqualTo(new[] { (pendingId, 204) }), "sent once more, under the same webhook-id");
        Assert.That(accepting.Posts, Has.Count.EqualTo(1), "a delivered one is not sent again");

        var second = await MigrateAsync(file, prefix);
        Assert.That(second.Code, Is.Zero, second.Error);
        Assert.That(second.Output, Does.Contain("deliveries: 0 copied (0 pending, delivered from Redis on), 2 already in Redis"));
        Assert.That((await Webhooks.WebhookDeliveryTests.DeliveriesAsync(redisGateway, pending))[0]!.Str("status"), Is.EqualTo("delivered"), "Redis's state stands");
        Directory.Delete(Path.GetDirectoryName(file)!, recursive: true);
    }

    [Test]
    public async Task MigrateStore_AdminTokenNameTakenOnRedis_NotCopiedAndExits3()
    {
        var prefix = $"t{Guid.NewGuid():N}:";
        await using var embedded = await GatewayHost.StartAsync();
        var file = Path.Combine(embedded.Directory, "gateway.db");
        var token = await embedded.CreateTokenAsync("deploy", "admin");
        await using (var redisGateway = await GatewayHost.StartAsync(store: StoreKind.Redis, redisPrefix: prefix))
        {
            await redisGateway.CreateTokenAsync("deploy", "viewer");
        }

        var run = await MigrateAsync(file, prefix);
        Assert.That(run.Code, Is.EqualTo(StoreMigration.NameTakenExitCode), run.Output + run.Error);
        Assert.That(run.Error, Does.Contain("name taken: " + token.Str("id")));
    }

    internal static async Task<long> CountedAsync(string file)
    {
        await using var connection = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={file};Mode=ReadOnly;Pooling=False");
        await connection.OpenAsync();
        await using var command = connection.CreateCommand();
        command.CommandText = "SELECT COALESCE(SUM(used), 0) FROM quota_counters;";
        return (long)(await command.ExecuteScalarAsync())!;
    }

    private static async Task<(int Code, string Output, string Error)> MigrateAsync(string file, string prefix)
    {
        using var output = new StringWriter();
        using var error = new StringWriter();
        var code = await AdminCli.RunAsync(["migrate-store", "--from", file, "--to-redis", RedisServer.Shared.ConnectionString, "--prefix", prefix], output, error);
        return (code, output.ToString(), error.ToString());
    }
}
