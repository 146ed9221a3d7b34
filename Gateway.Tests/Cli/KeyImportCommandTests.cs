using System.Net;
using Gateway.Cli;
using Gateway.Keys;
using Gateway.Tests.Common;
using Microsoft.Extensions.Configuration;

namespace Gateway.Tests.Cli;

/// <summary>
/// <c>keys import</c> writes keys from a JSON Lines file straight into the store, in batches: the keys work
/// through the proxy of a gateway started on that store afterwards, organizations are created with their first
/// key as the default, a second run skips what is there, and a bad line stops the import before anything is written.
/// </summary>
[TestFixtureSource(typeof(StoreKinds), nameof(StoreKinds.All))]
public sealed class KeyImportCommandTests(StoreKind store)
{
    [Test]
    public async Task KeysImport_PlaintextAndHashLinesInSmallBatches_KeysAuthenticate_OrgsCreated_SecondRunSkipsAll()
    {
        using var upstream = Upstream.Start();
        var routes = GatewayHost.Routes(upstream.Url, ("api", "/api/{**rest}", []));
        var (directory, prefix) = NewStore();
        var first = ApiKeyFormat.Generate("gw", "production");
        var second = ApiKeyFormat.Generate("gw", "production");
        var third = ApiKeyFormat.Generate("gw", "production");
        var file = Write(directory,
            $$"""{"org":"acme","name":"first","key":"{{first}}"}""",
            $$"""{"org":"acme","name":"second","hash":"{{ApiKeyFormat.Hash(second)}}","prefix":"{{ApiKeyFormat.DisplayPrefix(second)}}","environment":"production","scopes":["*"],"description":"from the old system"}""",
            "",
            $$"""{"org":"beta","name":"third","key":"{{third}}","customerId":"cust_1"}""");

        var run = await ImportAsync(directory, prefix, file, "--batch", "2");
        Assert.That(run.Code, Is.Zero, run.Error);
        Assert.That(run.Output, Does.Contain("Imported 3 keys (0 skipped").And.Contain("for 2 organizations"));

        var again = await ImportAsync(directory, prefix, file);
        Assert.That(again.Code, Is.Zero, again.Error);
        Assert.That(again.Output, Does.Contain("Imported 0 keys (3 skipped"));

        await using var gateway = await GatewayHost.StartAsync(routes, directory: directory, store: store, redisPrefix: prefix);
        Assert.That(await gateway.StatusAsync(first), Is.EqualTo(HttpStatusCode.OK));
        Assert.That(await gateway.StatusAsync(second), Is.EqualTo(HttpStatusCode.OK));
        Assert.That(await gateway.StatusAsync(third), Is.EqualTo(HttpStatusCode.OK));
        Assert.That(await gateway.StatusAsync(ApiKeyFormat.Generate("gw", "production")), Is.EqualTo(HttpStatusCode.Unauthorized));

        var keys = (await gateway.AdminGetAsync("admin/orgs/acme/keys"))["items"]!.AsArray().Select(k => k!.AsObject()).ToList();
        Assert.That(keys.Select(k => k.Str("name")), Is.EquivalentTo(new[] { "first", "second" }), "the second run added no duplicates");
        var org = await gateway.AdminGetAsync("admin/orgs/acme");
        Assert.That(org.Str("defaultKeyId"), Is.EqualTo(keys.Single(k => k.Str("name") == "first").Str("id")));
        Assert.That(keys.Single(k => k.Str("name") == "second").Str("description"), Is.EqualTo("from the old system"));
        var actions = (await gateway.AdminGetAsync("admin/audit?org=acme&limit=100"))["items"]!.AsArray().Select(e => e!.Str("action")).ToList();
        Assert.That(actions, Has.Member("key.import"));
    }

    [Test]
    public async Task KeysImport_OneBadLine_ExitsWithItsLineNumber_WritesNothing()
    {
        using var upstream = Upstream.Start();
        var routes = GatewayHost.Routes(upstream.Url, ("api", "/api/{**rest}", []));
        var (directory, prefix) = NewStore();
        var good = ApiKeyFormat.Generate("gw", "production");
        // Another last character: a key that already ended in 'x' (one in 62) made the "bad" line a good one.
        var bad = good[..^1] + (good[^1] == 'x' ? 'y' : 'x');
        var file = Write(directory,
            $$"""{"org":"acme","name":"good","key":"{{good}}"}""",
            $$"""{"org":"acme","name":"bad","key":"{{bad}}"}""");

        var run = await ImportAsync(directory, prefix, file);

        Assert.That(run.Code, Is.EqualTo(1));
        Assert.That(run.Error, Does.Contain("line 2: key is not a well-formed key").And.Contain("Nothing was imported"));
        await using var gateway = await GatewayHost.StartAsync(routes, directory: directory, store: store, redisPrefix: prefix);
        Assert.That(await gateway.StatusAsync(good), Is.EqualTo(HttpStatusCode.Unauthorized));
        var response = await gateway.Admin.GetAsync("admin/orgs/acme");
        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.NotFound));
    }

    [Test]
    public async Task KeysImport_ShippedSettings_AcceptsTheDemosScopesAsTheAdminApiDoes()
    {
        // The CLI reads the shipped appsettings.json beside the tests: the demo on, no scopes of its own. A gateway with
        // these settings accepts "read" (the demo adds it), so the import must too.
        var shipped = CliConfiguration.Load();
        Assert.That(shipped.GetValue<bool>("Gateway:Demo:Enabled"), Is.True, "the shipped settings turn the demo on");
        Assert.That(shipped.GetSection("Gateway:Scopes").GetChildren(), Is.Empty);
        var (directory, prefix) = NewStore();
        var reader = ApiKeyFormat.Generate("gw", "production");
        var file = Write(directory, $$"""{"org":"acme","name":"reader","key":"{{reader}}","scopes":["read"]}""");

        var run = await ImportAsync(directory, prefix, file);

        Assert.That(run.Code, Is.Zero, run.Error);
        await using var gateway = await GatewayHost.StartAsync(directory: directory, store: store, redisPrefix: prefix);
        var keys = (await gateway.AdminGetAsync("admin/orgs/acme/keys"))["items"]!.AsArray();
        Assert.That(keys.Single()!["scopes"]!.AsArray().Select(s => s!.GetValue<string>()), Is.EqualTo(new[] { "read" }));
    }

    private static (string Directory, string Prefix) NewStore()
    {
        var directory = Path.Combine(Path.GetTempPath(), "gw-tests", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(directory);
        return (directory, $"t{Guid.NewGuid():N}:");
    }

    private static string Write(string directory, params string[] lines)
    {
        var file = Path.Combine(directory, "keys.jsonl");
        File.WriteAllLines(file, lines);
        return file;
    }

    private async Task<(int Code, string Output, string Error)> ImportAsync(string directory, string prefix, string file, params string[] extra)
    {
        using var output = new StringWriter();
        using var error = new StringWriter();
        string[] target = store == StoreKind.Redis
            ? ["--redis", RedisServer.Shared.ConnectionString, "--prefix", prefix]
            : ["--store", Path.Combine(directory, "gateway.db")];
        var code = await AdminCli.RunAsync(["keys", "import", "--file", file, .. target, .. extra], output, error);
        return (code, output.ToString(), error.ToString());
    }
}
