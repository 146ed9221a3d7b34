using System.Collections.Concurrent;
using System.Net;
using Gateway.Domain;
using Gateway.Stores;
using Gateway.Stores.Redis;
using Gateway.Tests.Common;
using Microsoft.Extensions.DependencyInjection;
using StackExchange.Redis;

namespace Gateway.Tests.Keys;

/// <summary>
/// A key change that reached the store always clears caches, here and on other instances sharing Redis:
/// also when the admin call itself fails, when Redis freezes mid-call, and when a retried call finds the
/// key already in the requested state. Caches are fresh for ten minutes, so only an invalidation can
/// explain a refused key.
/// </summary>
[NonParallelizable]
public sealed class RevocationDeliveryTests
{
    private static readonly TimeSpan Within = TimeSpan.FromSeconds(10);
    private Upstream _upstream = null!;
    private RedisServer _redis = null!;
    private readonly List<GatewayHost> _hosts = [];

    [SetUp]
    public void Start()
    {
        _upstream = Upstream.Start();
        _redis = RedisServer.Start();
    }

    [TearDown]
    public async Task StopAsync()
    {
        try
        {
            _redis.Resume();
            foreach (var host in _hosts)
            {
                await host.DisposeAsync();
            }
        }
        finally
        {
            _hosts.Clear();
            _redis.Dispose();
            _upstream.Dispose();
        }
    }

    [TestCase("revoke", "key_revoked")]
    [TestCase("deactivate", "key_inactive")]
    [TestCase("rotate", "invalid_key")]
    public async Task Transition_StoreAppliesWriteThenThrows_CallFailsButKeyRefusedOnBothInstances(string action, string code)
    {
        var (a, b, store) = await StartPairAsync();
        var (id, key) = await CachedKeyAsync(a, b);

        store.FailAfterWrite = true;
        using var response = await a.Admin.PostAsync($"admin/keys/{id}/{action}", null);

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.ServiceUnavailable), "the call itself failed");
        Assert.That(await a.CodeAsync(key), Is.EqualTo(code), "this instance drops the key at once");
        await GatewayHost.WaitForAsync(async () => await b.StatusAsync(key) == HttpStatusCode.Unauthorized, Within);
        Assert.That(await b.CodeAsync(key), Is.EqualTo(code));
    }

    [Test]
    public async Task Patch_StoreAppliesWriteThenThrows_NewScopesEnforcedOnBothInstances()
    {
        var (a, b, store) = await StartPairAsync();
        var (id, key) = await CachedKeyAsync(a, b);

        store.FailAfterWrite = true;
        using var response = await a.Admin.PatchAsync($"admin/keys/{id}", System.Net.Http.Json.JsonContent.Create(new { scopes = new[] { "write" } }));

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.ServiceUnavailable));
        Assert.That(await a.CodeAsync(key), Is.EqualTo("insufficient_scope"));
        await GatewayHost.WaitForAsync(async () => await b.StatusAsync(key) == HttpStatusCode.Forbidden, Within);
    }

    [Test]
    public async Task Revoke_RedisFrozenMidCall_KeyRefusedHereAtOnceAndThereWhenRedisAnswers()
    {
        var (a, b, store) = await StartPairAsync();
        var (id, key) = await CachedKeyAsync(a, b);

        // The revoke lands, then Redis hangs before the gateway hears back: the call times out, and so
        // does every attempt to publish the change until Redis answers again.
        store.FailAfterWrite = true;
        store.AfterWrite = _redis.Pause;
        using var response = await a.Admin.PostAsync($"admin/keys/{id}/revoke", null);

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.ServiceUnavailable));
        Assert.That(await a.StatusAsync(key), Is.Not.EqualTo(HttpStatusCode.OK), "not served from this instance's cache while Redis is frozen");

        _redis.Resume();
        store.FailAfterWrite = false;
        await GatewayHost.WaitForAsync(async () => await a.StatusAsync(key) == HttpStatusCode.Unauthorized, Within);
        await GatewayHost.WaitForAsync(async () => await b.StatusAsync(key) == HttpStatusCode.Unauthorized, Within);
        Assert.That(await b.CodeAsync(key), Is.EqualTo("key_revoked"));
    }

    [Test]
    public async Task Revoke_AlreadyRevokedInStore_StillClearsCurrentAndPreviousHashEverywhere()
    {
        var (a, b, _) = await StartPairAsync();
        await a.CreateOrgAsync("acme");
        var created = await a.CreateKeyAsync("acme", new { name = "svc" });
        var id = created.Str("id");
        var old = created.Str("key");
        var current = (await a.AdminPostAsync($"admin/keys/{id}/rotate", new { gracePeriod = "01:00:00" })).Str("key");
        foreach (var host in new[] { a, b })
        {
            Assert.That(await host.StatusAsync(old), Is.EqualTo(HttpStatusCode.OK));
            Assert.That(await host.StatusAsync(current), Is.EqualTo(HttpStatusCode.OK));
        }

        // An earlier revoke whose write landed but whose invalidation never ran (the process died).
        await RevokeBehindTheGatewaysBackAsync(a, id);
        Assert.That(await a.StatusAsync(current), Is.EqualTo(HttpStatusCode.OK), "precondition: still cached");

        var retried = await a.AdminPostAsync($"admin/keys/{id}/revoke");

        Assert.That(retried.Str("status"), Is.EqualTo("revoked"));
        foreach (var host in new[] { a, b })
        {
            await GatewayHost.WaitForAsync(async () => await host.StatusAsync(current) == HttpStatusCode.Unauthorized, Within);
            await GatewayHost.WaitForAsync(async () => await host.StatusAsync(old) == HttpStatusCode.Unauthorized, Within);
        }
    }

    [TestCase("deactivate", "key_inactive")]
    [TestCase("activate", null)]
    public async Task Transition_AlreadyInTargetState_StillClearsCaches(string action, string? code)
    {
        var (a, _, _) = await StartPairAsync();
        var (id, key) = await CachedKeyAsync(a);
        var store = a.Services.GetRequiredService<IGatewayStore>();
        var record = (await store.GetKeyAsync(id, CancellationToken.None))!;
        var state = action == "deactivate" ? KeyState.Inactive : KeyState.Active;
        if (action == "activate")
        {
            // Cache the inactive key, then activate it behind the gateway's back.
            await a.AdminPostAsync($"admin/keys/{id}/deactivate");
            Assert.That(await a.CodeAsync(key), Is.EqualTo("key_inactive"));
            record = (await store.GetKeyAsync(id, CancellationToken.None))!;
        }

        await store.UpdateKeyAsync(record with { State = state, Version = record.Version + 1 }, record.Version, Audit(record), CancellationToken.None);

        await a.AdminPostAsync($"admin/keys/{id}/{action}");

        if (code is null)
        {
            Assert.That(await a.StatusAsync(key), Is.EqualTo(HttpStatusCode.OK));
        }
        else
        {
            Assert.That(await a.CodeAsync(key), Is.EqualTo(code));
        }
    }

    [Test]
    public async Task Publish_RedisDownWhenKeyChanges_DeliveredOnceRedisIsBack()
    {
        var (a, _, _) = await StartPairAsync(second: false);
        var notifier = a.Services.GetRequiredService<IKeyChangeNotifier>();
        _redis.Kill();

        await notifier.PublishAsync(["hash-that-changed"], CancellationToken.None);
        Assert.That(((RedisKeyChangePublisher)notifier).Undelivered, Is.EqualTo(1));

        _redis.Restart();

        // A restarted server has seen no PUBLISH: one counted now was sent after Redis came back.
        using var probe = await ConnectionMultiplexer.ConnectAsync(_redis.ConnectionString);
        var server = probe.GetServer(probe.GetEndPoints()[0]);
        await GatewayHost.WaitForAsync(async () => ((string)(await server.ExecuteAsync("INFO", "commandstats"))!).Contains("cmdstat_publish:calls=", StringComparison.Ordinal), Within);
        await GatewayHost.WaitForAsync(() => Task.FromResult(((RedisKeyChangePublisher)notifier).Undelivered == 0), Within);
    }

    [Test]
    public async Task Feed_SkipsThisInstancesOwnAnnouncements_PassesOnOtherInstances()
    {
        // An own echo arriving after this instance re-read a changed key (a revoked key just refused) would drop that
        // entry again; during an outage the revoked key would then get 503 instead of key_revoked.
        var (a, b, _) = await StartPairAsync();
        var heard = new ConcurrentQueue<string>();
        using var subscription = await a.Services.GetRequiredService<IKeyChangeFeed>().SubscribeAsync(
            hashes => { foreach (var hash in hashes) { heard.Enqueue(hash); } }, () => { }, CancellationToken.None);

        await a.Services.GetRequiredService<IKeyChangeNotifier>().PublishAsync(["from-a"], CancellationToken.None);
        await b.Services.GetRequiredService<IKeyChangeNotifier>().PublishAsync(["from-b"], CancellationToken.None);
        await b.Services.GetRequiredService<IKeyChangeNotifier>().PublishAsync(["from-b-again"], CancellationToken.None);

        // Redis delivers a channel's messages in the order it took them, so a's reached this instance before both of b's;
        // the client hands them to handlers concurrently, so b's two may be heard in either order.
        await GatewayHost.WaitForAsync(() => Task.FromResult(heard.Contains("from-b") && heard.Contains("from-b-again")), Within);
        Assert.That(heard.Where(h => !h.StartsWith('@')), Is.EquivalentTo(new[] { "from-b", "from-b-again" }));
    }

    private const string Prefix = "rev:";

    private async Task<(GatewayHost A, GatewayHost B, FailingWriteStore Store)> StartPairAsync(bool second = true)
    {
        var settings = GatewayHost.Routes(_upstream.Url, ("api", "/api/{**rest}", [("RequiredScopes", "read")]));
        settings["Gateway:Store:Redis"] = _redis.ConnectionString;
        settings["Gateway:Store:RedisPrefix"] = Prefix;
        settings["Gateway:Store:Timeout"] = "00:00:00.500";
        settings["Gateway:Cache:FreshFor"] = "00:10:00";
        settings["Gateway:Cache:StaleFor"] = "00:20:00";
        FailingWriteStore store = null!;
        var a = await GatewayHost.StartAsync(settings, services => services.AddSingleton<IGatewayStore>(sp =>
            store = new FailingWriteStore(ActivatorUtilities.CreateInstance<RedisGatewayStore>(sp))));
        _hosts.Add(a);
        var b = a;
        if (second)
        {
            b = await GatewayHost.StartAsync(settings);
            _hosts.Add(b);
        }

        return (a, b, store);
    }

    /// <returns>A key with scope read that both hosts have cached.</returns>
    private static async Task<(string Id, string Key)> CachedKeyAsync(params GatewayHost[] hosts)
    {
        await hosts[0].CreateOrgAsync("acme");
        var created = await hosts[0].CreateKeyAsync("acme", new { name = "svc", scopes = new[] { "read" } });
        var key = created.Str("key");
        foreach (var host in hosts)
        {
            using var response = await host.CallAsync("/api/x", key);
            Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK), await response.Content.ReadAsStringAsync());
        }

        return (created.Str("id"), key);
    }

    private static async Task RevokeBehindTheGatewaysBackAsync(GatewayHost host, string id)
    {
        var store = host.Services.GetRequiredService<IGatewayStore>();
        var record = (await store.GetKeyAsync(id, CancellationToken.None))!;
        var now = DateTimeOffset.UtcNow;
        await store.UpdateKeyAsync(record with { State = KeyState.Revoked, RevokedAt = now, PreviousHashExpiresAt = now, Version = record.Version + 1 }, record.Version, Audit(record), CancellationToken.None);
    }

    private static AuditEntry Audit(ApiKeyRecord record) =>
        new("aud_" + Guid.NewGuid().ToString("N"), record.OrgId, record.Id, "key.test", "test", DateTimeOffset.UtcNow, null);
}
