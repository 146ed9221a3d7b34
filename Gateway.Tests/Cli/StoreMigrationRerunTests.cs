using System.Net;
using System.Net.Http.Json;
using Gateway.Cli;
using Gateway.Tests.Common;
using Gateway.Webhooks;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;

namespace Gateway.Tests.Cli;

/// <summary>
/// <c>migrate-store</c> run again while the old gateway went on changing SQLite: credit top-ups and deductions, customers
/// renamed or deleted, marks of events sent once per key, and a file that is no store at all.
/// </summary>
public sealed class StoreMigrationRerunTests
{
    [Test]
    public async Task MigrateStore_RunAgain_CarriesCreditsAddedAndSubtractedInSqlite_KeepsWhatRedisCounted()
    {
        using var upstream = Upstream.Start();
        var routes = GatewayHost.Routes(upstream.Url, ("api", "/api/{**rest}", []));
        var prefix = $"t{Guid.NewGuid():N}:";
        await using var embedded = await GatewayHost.StartAsync(routes);
        var file = Path.Combine(embedded.Directory, "gateway.db");
        await embedded.CreateOrgAsync("acme");
        var prepaid = await embedded.CreateKeyAsync("acme", new { name = "prepaid", credits = new { remaining = 20 } });
        var id = prepaid.Str("id");
        Assert.That(await embedded.StatusAsync(prepaid.Str("key")), Is.EqualTo(HttpStatusCode.OK));
        Assert.That(await embedded.StatusAsync(prepaid.Str("key")), Is.EqualTo(HttpStatusCode.OK));
        await Eventually.HoldsAsync(async () => await StoreMigrationFeatureTests.CountedAsync(file) == 2, TimeSpan.FromSeconds(10), "two credits used in SQLite");

        var first = await MigrateAsync(file, prefix);
        Assert.That(first.Code, Is.Zero, first.Error);

        // A gateway on Redis spends one more: 17 left.
        await using var redisGateway = await GatewayHost.StartAsync(routes, store: StoreKind.Redis, redisPrefix: prefix);
        Assert.That(await redisGateway.StatusAsync(prepaid.Str("key")), Is.EqualTo(HttpStatusCode.OK));
        Assert.That(await RemainingAsync(redisGateway, id), Is.EqualTo(17));

        // The old gateway tops the key up by 100 (SQLite counts that as usage going down, below zero).
        await embedded.AdminPostAsync($"admin/keys/{id}/credits", new { op = "add", amount = 100 });
        await Eventually.HoldsAsync(async () => await StoreMigrationFeatureTests.CountedAsync(file) == -98, TimeSpan.FromSeconds(10), "the top-up in SQLite");
        var second = await MigrateAsync(file, prefix);
        Assert.That(second.Code, Is.Zero, second.Error);
        Assert.That(await RemainingAsync(redisGateway, id), Is.EqualTo(117), "20 - 2 used in SQLite - 1 used on Redis + 100 added in SQLite");

        await embedded.AdminPostAsync($"admin/keys/{id}/credits", new { op = "subtract", amount = 50 });
        await Eventually.HoldsAsync(async () => await StoreMigrationFeatureTests.CountedAsync(file) == -48, TimeSpan.FromSeconds(10), "the deduction in SQLite");
        var third = await MigrateAsync(file, prefix);
        Assert.That(third.Code, Is.Zero, third.Error);
        Assert.That(await RemainingAsync(redisGateway, id), Is.EqualTo(67), "and 50 taken in SQLite");

        var again = await MigrateAsync(file, prefix);
        Assert.That(again.Code, Is.Zero, again.Error);
        Assert.That(await RemainingAsync(redisGateway, id), Is.EqualTo(67), "a run with nothing changed in SQLite changes nothing");
    }

    [Test]
    public async Task MigrateStore_KeyExpiringSentFromSqlite_NotSentAgainFromRedis()
    {
        var clock = new FakeTimeProvider(DateTimeOffset.UtcNow);
        using var receiver = new Webhooks.WebhookReceiver();
        var settings = Webhooks.WebhookDeliveryTests.FastSettings();
        settings["Gateway:Webhooks:ExpiringWithin"] = "1.00:00:00";
        settings["Gateway:Webhooks:ExpiryScanInterval"] = "00:05:00";
        var prefix = $"t{Guid.NewGuid():N}:";
        var embedded = await GatewayHost.StartAsync(settings, s => s.AddSingleton<TimeProvider>(clock));
        var file = Path.Combine(embedded.Directory, "gateway.db");
        string hookId;
        try
        {
            await embedded.CreateOrgAsync("acme");
            (hookId, _) = await Webhooks.WebhookDeliveryTests.CreateWebhookAsync(embedded, "acme", receiver.Url, "key.expiring");
            await embedded.CreateKeyAsync("acme", new { name = "soon", expiresAt = clock.GetUtcNow().AddHours(12) });
            clock.Advance(TimeSpan.FromMinutes(5));
            await embedded.Services.GetRequiredService<KeyExpiryScanner>().ScanAsync(CancellationToken.None);
            await Eventually.HoldsAsync(() => Task.FromResult(receiver.Posts.Count == 1), TimeSpan.FromSeconds(20), "key.expiring sent from SQLite");
        }
        finally
        {
            await embedded.StopForRestartAsync();
        }

        var run = await MigrateAsync(file, prefix);
        Assert.That(run.Code, Is.Zero, run.Error);

        await using var redisGateway = await GatewayHost.StartAsync(settings, s => s.AddSingleton<TimeProvider>(clock), store: StoreKind.Redis, redisPrefix: prefix);
        for (var i = 0; i < 3; i++)
        {
            clock.Advance(TimeSpan.FromMinutes(5));
            await redisGateway.Services.GetRequiredService<KeyExpiryScanner>().ScanAsync(CancellationToken.None);
        }

        var deliveries = await Webhooks.WebhookDeliveryTests.DeliveriesAsync(redisGateway, hookId);
        Assert.That(deliveries, Has.Count.EqualTo(1), "key.expiring is sent once per key: the copied delivery, no new one");
        Assert.That(receiver.Posts, Has.Count.EqualTo(1));
        Directory.Delete(Path.GetDirectoryName(file)!, recursive: true);
    }

    [Test]
    public async Task MigrateStore_RunAgain_CustomersChangedOnlyInSqliteFollow_ChangedOnBothSidesAreConflicts()
    {
        var prefix = $"t{Guid.NewGuid():N}:";
        await using var embedded = await GatewayHost.StartAsync();
        var file = Path.Combine(embedded.Directory, "gateway.db");
        await embedded.CreateOrgAsync("acme");
        foreach (var (customer, name) in new[] { ("c1", "One"), ("c2", "Two"), ("c3", "Three"), ("c4", "Four") })
        {
            await embedded.AdminPostAsync("admin/orgs/acme/customers", new { id = customer, name }, expected: 201);
        }

        var first = await MigrateAsync(file, prefix);
        Assert.That(first.Code, Is.Zero, first.Error);

        await using var redisGateway = await GatewayHost.StartAsync(store: StoreKind.Redis, redisPrefix: prefix);
        await RenameAsync(embedded, "c1", "Uno");
        await RenameAsync(redisGateway, "c2", "Two on Redis");
        await RenameAsync(embedded, "c3", "Tres");
        await RenameAsync(redisGateway, "c3", "Three on Redis");
        using (var delete = await embedded.Admin.DeleteAsync("admin/orgs/acme/customers/c4"))
        {
            await embedded.Expect(delete, 204);
        }

        var second = await MigrateAsync(file, prefix);
        Assert.That(second.Code, Is.EqualTo(StoreMigration.ConflictExitCode), second.Output + second.Error);
        Assert.That(second.Error, Does.Contain("conflict: customer acme/c3"));
        Assert.That(await NameAsync(redisGateway, "c1"), Is.EqualTo("Uno"), "changed only in SQLite: updated");
        Assert.That(await NameAsync(redisGateway, "c2"), Is.EqualTo("Two on Redis"), "changed only on Redis: untouched");
        Assert.That(await NameAsync(redisGateway, "c3"), Is.EqualTo("Three on Redis"), "changed on both sides: Redis's stands");
        using (var gone = await redisGateway.Admin.GetAsync("admin/orgs/acme/customers/c4"))
        {
            Assert.That(gone.StatusCode, Is.EqualTo(HttpStatusCode.NotFound), "deleted in SQLite, unchanged on Redis: deleted");
        }

        // Redis's audit shows the changes Redis holds: c1's rename and c4's deletion from SQLite, not c3's.
        var audit = (await redisGateway.AdminGetAsync("admin/audit?org=acme&limit=100"))["items"]!.AsArray();
        var changes = audit.Select(e => (e!.Str("action"), e!["changes"]?["customerId"]?["before"]?.GetValue<string>(), e!["changes"]?["name"]?["after"]?.GetValue<string>())).ToList();
        var all = string.Join("\n", audit.Select(e => e!.ToJsonString()));
        Assert.That(changes, Does.Contain(("customer.update", "c1", "Uno")).And.Contain(("customer.delete", "c4", (string?)null)), all);
        Assert.That(changes.Where(c => c.Item3 == "Tres"), Is.Empty, "the SQLite rename of c3 waits for the run that settles it: " + all);

        var settled = await MigrateAsync(file, prefix, "--keep-redis");
        Assert.That(settled.Code, Is.Zero, settled.Output + settled.Error);
        Assert.That(await NameAsync(redisGateway, "c3"), Is.EqualTo("Three on Redis"), "settled as Redis has it");
        var last = await MigrateAsync(file, prefix);
        Assert.That(last.Code, Is.Zero, last.Output + last.Error);
    }

    [Test]
    public async Task MigrateStore_FileIsNotAStore_OneLineNamingTheFileAndExit1()
    {
        var directory = Path.Combine(Path.GetTempPath(), "gw-tests", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(directory);
        var file = Path.Combine(directory, "garbage.db");
        await File.WriteAllTextAsync(file, new string('x', 8192));
        try
        {
            var run = await MigrateAsync(file, $"t{Guid.NewGuid():N}:");
            Assert.That(run.Code, Is.EqualTo(1), run.Error);
            var lines = run.Error.Split('\n', StringSplitOptions.RemoveEmptyEntries);
            Assert.That(lines, Has.Length.EqualTo(1), run.Error);
            Assert.That(lines[0], Does.Contain(Path.GetFullPath(file)).And.Contain("not a gateway store"));
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    private static async Task<long> RemainingAsync(GatewayHost gateway, string keyId) =>
        (await gateway.AdminGetAsync($"admin/keys/{keyId}"))["credits"]!["remaining"]!.GetValue<long>();

    private static async Task RenameAsync(GatewayHost gateway, string customer, string name)
    {
        using var patch = await gateway.Admin.PatchAsJsonAsync($"admin/orgs/acme/customers/{customer}", new { name });
        await gateway.Expect(patch, 200);
    }

    private static async Task<string> NameAsync(GatewayHost gateway, string customer) =>
        (await gateway.AdminGetAsync($"admin/orgs/acme/customers/{customer}")).Str("name");

    private static async Task<(int Code, string Output, string Error)> MigrateAsync(string file, string prefix, params string[] more)
    {
        using var output = new StringWriter();
        using var error = new StringWriter();
        var code = await AdminCli.RunAsync(["migrate-store", "--from", file, "--to-redis", RedisServer.Shared.ConnectionString, "--prefix", prefix, .. more], output, error);
        return (code, output.ToString(), error.ToString());
    }
}
