using System.Net;
using Gateway.Domain;
using Gateway.Keys;
using Gateway.Stores;
using Gateway.Tests.Common;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace Gateway.Tests.Keys;

/// <summary>
/// The key cache's warm-up at start (<c>Gateway:Cache:WarmUp</c>): a second instance over the same store serves the
/// keys that can open a request without a store read of their own, the most recently used first when they do not all
/// fit, and still reads the others (revoked, inactive, expired) on their first request.
/// </summary>
[TestFixtureSource(typeof(StoreKinds), nameof(StoreKinds.All))]
[NonParallelizable]
public sealed class KeyCacheWarmUpTests(StoreKind store)
{
    private Upstream _upstream = null!;
    private string _directory = null!;
    private string _prefix = null!;
    private readonly List<GatewayHost> _hosts = [];

    [SetUp]
    public void Start()
    {
        _upstream = Upstream.Start();
        _directory = Path.Combine(Path.GetTempPath(), "gw-tests", Guid.NewGuid().ToString("N"));
        _prefix = $"t{Guid.NewGuid():N}:";
    }

    [TearDown]
    public async Task StopAsync()
    {
        foreach (var host in _hosts)
        {
            await host.DisposeAsync();
        }

        _hosts.Clear();
        _upstream.Dispose();
        try
        {
            Directory.Delete(_directory, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    [Test]
    public async Task Restart_UsableKeysServedWithoutAStoreRead_RefusedOnesReadOnTheirFirstRequest()
    {
        var first = await StartAsync();
        await first.CreateOrgAsync("acme");
        var used = (await first.CreateKeyAsync("acme", new { name = "used" })).Str("key");
        var unused = (await first.CreateKeyAsync("acme", new { name = "unused" })).Str("key");
        var rotated = await first.CreateKeyAsync("acme", new { name = "rotated" });
        var current = (await first.AdminPostAsync($"admin/keys/{rotated.Str("id")}/rotate", new { gracePeriod = "01:00:00" })).Str("key");
        var revoked = await first.CreateKeyAsync("acme", new { name = "revoked" });
        await first.AdminPostAsync($"admin/keys/{revoked.Str("id")}/revoke");
        var inactive = await first.CreateKeyAsync("acme", new { name = "inactive" });
        await first.AdminPostAsync($"admin/keys/{inactive.Str("id")}/deactivate");
        var expired = await first.CreateKeyAsync("acme", new { name = "expired" });
        await ExpireBehindTheGatewaysBackAsync(first, expired.Str("id"));
        Assert.That(await first.StatusAsync(used), Is.EqualTo(HttpStatusCode.OK));
        await StopAsync(first);

        CountingStore lookups = null!;
        var second = await StartAsync(services: s => s.AddSingleton<IKeyLookup>(sp => lookups = new CountingStore(sp.GetRequiredService<IGatewayStore>())));

        // The organization's default key, "used", "unused", and both hashes of "rotated".
        var metrics = await second.Admin.GetStringAsync("metrics");
        Assert.That(metrics.Split('\n'), Does.Contain("gateway_key_cache_entries 5"), metrics);

        foreach (var key in new[] { used, unused, rotated.Str("key"), current })
        {
            Assert.That(await second.StatusAsync(key), Is.EqualTo(HttpStatusCode.OK));
        }

        Assert.That(lookups.Lookups, Is.Zero, "every usable key, both hashes of a rotated one, came from the warm-up");
        Assert.That(await second.CodeAsync(revoked.Str("key")), Is.EqualTo("key_revoked"));
        Assert.That(await second.CodeAsync(inactive.Str("key")), Is.EqualTo("key_inactive"));
        Assert.That(await second.CodeAsync(expired.Str("key")), Is.EqualTo("key_expired"));
        Assert.That(lookups.Lookups, Is.EqualTo(3), "keys that open no request are not warmed");
    }

    [Test]
    public async Task MoreKeysThanFit_TheMostRecentlyUsedAreWarmed_UpToNineTenthsOfMaxEntries()
    {
        var first = await StartAsync();
        await first.CreateOrgAsync("acme");
        var keys = new List<(string Id, string Key)>();
        for (var i = 0; i < 12; i++)
        {
            var created = await first.CreateKeyAsync("acme", new { name = "k" + i });
            keys.Add((created.Str("id"), created.Str("key")));
        }

        // k0 used longest ago, k11 last; the organization's default key never.
        var since = DateTimeOffset.UtcNow.AddHours(-1);
        await first.Services.GetRequiredService<IKeyUsageRecorder>().RecordKeyUsageAsync(
            keys.Select((k, i) => KeyValuePair.Create(k.Id, since.AddMinutes(i))).ToList(), CancellationToken.None);
        await StopAsync(first);

        CountingStore lookups = null!;
        var second = await StartAsync(
            new Dictionary<string, string?> { ["Gateway:Cache:MaxEntries"] = "11" },
            s => s.AddSingleton<IKeyLookup>(sp => lookups = new CountingStore(sp.GetRequiredService<IGatewayStore>())));

        // Ten of eleven entries: the ten used last.
        for (var i = 2; i < 12; i++)
        {
            Assert.That(await second.StatusAsync(keys[i].Key), Is.EqualTo(HttpStatusCode.OK));
        }

        Assert.That(lookups.Lookups, Is.Zero);
        Assert.That(await second.StatusAsync(keys[1].Key), Is.EqualTo(HttpStatusCode.OK));
        Assert.That(lookups.Lookups, Is.EqualTo(1), "the eleventh most recent was not warmed");
    }

    [Test]
    public async Task WarmUpOff_EveryKeyReadOnItsFirstRequest()
    {
        var first = await StartAsync();
        await first.CreateOrgAsync("acme");
        var key = (await first.CreateKeyAsync("acme", new { name = "k" })).Str("key");
        await StopAsync(first);

        CountingStore lookups = null!;
        var second = await StartAsync(
            new Dictionary<string, string?> { ["Gateway:Cache:WarmUp"] = "false" },
            s => s.AddSingleton<IKeyLookup>(sp => lookups = new CountingStore(sp.GetRequiredService<IGatewayStore>())));

        Assert.That(await second.StatusAsync(key), Is.EqualTo(HttpStatusCode.OK));
        Assert.That(lookups.Lookups, Is.EqualTo(1));
    }

    [Test]
    public async Task StoreFrozenAtStart_WarmUpGivesUpWithoutStoppingTheHost_KeysReadOnceItAnswers()
    {
        if (store != StoreKind.Redis)
        {
            Assert.Ignore("The embedded store cannot be unreachable while the gateway starts.");
        }

        using var redis = RedisServer.Start();
        var settings = new Dictionary<string, string?> { ["Gateway:Store:Redis"] = redis.ConnectionString, ["Gateway:Store:Timeout"] = "00:00:00.300" };
        var first = await StartAsync(settings);
        await first.CreateOrgAsync("acme");
        var key = (await first.CreateKeyAsync("acme", new { name = "k" })).Str("key");
        await StopAsync(first);

        redis.Pause();
        GatewayHost second;
        try
        {
            second = await StartAsync(settings);
            var warmUp = second.Services.GetServices<IHostedService>().OfType<KeyCacheWarmUp>().Single();
            Assert.That(warmUp.ExecuteTask!.IsCompletedSuccessfully, Is.True, "a failed warm-up is logged, not thrown: a background service that throws stops the host");
            Assert.That(await second.StatusAsync(key), Is.EqualTo(HttpStatusCode.ServiceUnavailable));
        }
        finally
        {
            redis.Resume();
        }

        await GatewayHost.WaitForAsync(async () => await second.StatusAsync(key) == HttpStatusCode.OK, TimeSpan.FromSeconds(15));
        await StopAsync(second);
    }

    private async Task<GatewayHost> StartAsync(Dictionary<string, string?>? extra = null, Action<IServiceCollection>? services = null)
    {
        var settings = GatewayHost.Routes(_upstream.Url, ("api", "/api/{**rest}", []));
        // Fresh for long enough that only a store read, not a lapsed fresh period, explains a lookup.
        settings["Gateway:Cache:FreshFor"] = "00:10:00";
        settings["Gateway:Cache:StaleFor"] = "00:20:00";
        foreach (var (name, value) in extra ?? [])
        {
            settings[name] = value;
        }

        var host = await GatewayHost.StartAsync(settings, services, _directory, store, _prefix);
        _hosts.Add(host);
        return host;
    }

    // Not DisposeAsync: that deletes the host's directory, store file and all, and the next host would start on a
    // new empty file, finding the old one's tables only through connections still pooled to the deleted file.
    private async Task StopAsync(GatewayHost host)
    {
        _hosts.Remove(host);
        await host.StopForRestartAsync();
    }

    private static async Task ExpireBehindTheGatewaysBackAsync(GatewayHost host, string id)
    {
        var keys = host.Services.GetRequiredService<IGatewayStore>();
        var record = (await keys.GetKeyAsync(id, CancellationToken.None))!;
        var audit = new AuditEntry("aud_" + Guid.NewGuid().ToString("N"), record.OrgId, record.Id, "key.test", "test", DateTimeOffset.UtcNow, null);
        await keys.UpdateKeyAsync(record with { ExpiresAt = DateTimeOffset.UtcNow.AddMinutes(-1), Version = record.Version + 1 }, record.Version, audit, CancellationToken.None);
    }
}
