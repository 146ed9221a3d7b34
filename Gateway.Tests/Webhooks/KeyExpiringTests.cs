using System.Text.Json.Nodes;
using Gateway.Tests.Common;
using Gateway.Webhooks;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;

namespace Gateway.Tests.Webhooks;

/// <summary><c>key.expiring</c>: once per key within <c>ExpiringWithin</c>, however many scans see it, and however many instances scan.</summary>
[TestFixtureSource(typeof(StoreKinds), nameof(StoreKinds.All))]
public sealed class KeyExpiringTests(StoreKind store)
{
    [Test]
    public async Task KeyExpiring_ManyScanCycles_OneDeliveryPerKey()
    {
        var clock = new FakeTimeProvider(DateTimeOffset.UtcNow);
        using var receiver = new WebhookReceiver();
        await using var gateway = await GatewayHost.StartAsync(Settings(), s => s.AddSingleton<TimeProvider>(clock), store: store);
        await gateway.CreateOrgAsync("acme");
        var (hookId, _) = await WebhookDeliveryTests.CreateWebhookAsync(gateway, "acme", receiver.Url, "key.expiring");
        var soon = (await gateway.CreateKeyAsync("acme", new { name = "soon", expiresAt = clock.GetUtcNow().AddHours(12) })).Str("id");
        var later = (await gateway.CreateKeyAsync("acme", new { name = "later", expiresAt = clock.GetUtcNow().AddDays(3) })).Str("id");
        await gateway.CreateKeyAsync("acme", new { name = "forever" });

        // Each step is a scan cycle: the clock moves one interval (which also wakes the background scan) and a scan runs.
        await ScanCyclesAsync(clock, 6, Scanner(gateway));
        var deliveries = await WebhookDeliveryTests.DeliveriesAsync(gateway, hookId);
        Assert.That(deliveries.Select(d => d!["type"]!.GetValue<string>()), Is.EqualTo(new[] { "key.expiring" }), "one delivery for the key within a day of expiry, after six scans");
        await Eventually.HoldsAsync(() => Task.FromResult(receiver.Posts.Count == 1), TimeSpan.FromSeconds(20));
        Assert.That(JsonNode.Parse(receiver.Posts[0].Body)!["data"]!["id"]!.GetValue<string>(), Is.EqualTo(soon));

        // Two days on, the other key comes within a day of its expiry: one delivery for it too (the first has expired).
        clock.Advance(TimeSpan.FromDays(2));
        await ScanCyclesAsync(clock, 6, Scanner(gateway));
        deliveries = await WebhookDeliveryTests.DeliveriesAsync(gateway, hookId);
        Assert.That(deliveries, Has.Count.EqualTo(2));
        await Eventually.HoldsAsync(() => Task.FromResult(receiver.Posts.Count == 2), TimeSpan.FromSeconds(20));
        Assert.That(receiver.Posts.Select(p => JsonNode.Parse(p.Body)!["data"]!["id"]!.GetValue<string>()), Is.EquivalentTo(new[] { soon, later }));
    }

    [Test]
    public async Task KeyExpiring_TwoInstancesScanningOneRedis_OneDelivery()
    {
        Assume.That(store, Is.EqualTo(StoreKind.Redis), "instances share a store on Redis only");
        var clock = new FakeTimeProvider(DateTimeOffset.UtcNow);
        using var receiver = new WebhookReceiver();
        var prefix = $"t{Guid.NewGuid():N}:";
        await using var a = await GatewayHost.StartAsync(Settings(), s => s.AddSingleton<TimeProvider>(clock), store: StoreKind.Redis, redisPrefix: prefix);
        await using var b = await GatewayHost.StartAsync(Settings(), s => s.AddSingleton<TimeProvider>(clock), store: StoreKind.Redis, redisPrefix: prefix);
        await a.CreateOrgAsync("acme");
        var (hookId, _) = await WebhookDeliveryTests.CreateWebhookAsync(a, "acme", receiver.Url, "key.expiring");
        var soon = (await a.CreateKeyAsync("acme", new { name = "soon", expiresAt = clock.GetUtcNow().AddHours(12) })).Str("id");

        // Both instances scan at once, cycle after cycle. A claim's lease runs on this shared fake clock: moving it five
        // minutes while a send is in flight would hand the claim to the other instance as if the sender had crashed, so
        // each cycle waits until nothing is pending before the clock moves again.
        for (var i = 0; i < 6; i++)
        {
            await ScanCyclesAsync(clock, 1, Scanner(a), Scanner(b));
            await Eventually.HoldsAsync(
                async () => (await WebhookDeliveryTests.DeliveriesAsync(b, hookId)).All(d => d!["status"]!.GetValue<string>() != "pending"),
                TimeSpan.FromSeconds(20),
                "every delivery settled before the clock moves on");
        }

        Assert.That(await WebhookDeliveryTests.DeliveriesAsync(b, hookId), Has.Count.EqualTo(1), "one delivery, not one per instance or per scan");
        await Eventually.HoldsAsync(() => Task.FromResult(receiver.Posts.Count >= 1), TimeSpan.FromSeconds(20));
        Assert.That(receiver.Posts, Has.Count.EqualTo(1), "one post, not one per instance");
        Assert.That(JsonNode.Parse(receiver.Posts[0].Body)!["data"]!["id"]!.GetValue<string>(), Is.EqualTo(soon));
    }

    private static Dictionary<string, string?> Settings()
    {
        var settings = WebhookDeliveryTests.FastSettings();
        settings["Gateway:Webhooks:ExpiringWithin"] = "1.00:00:00";
        settings["Gateway:Webhooks:ExpiryScanInterval"] = "00:05:00";
        return settings;
    }

    private static KeyExpiryScanner Scanner(GatewayHost gateway) => gateway.Services.GetRequiredService<KeyExpiryScanner>();

    private static async Task ScanCyclesAsync(FakeTimeProvider clock, int cycles, params KeyExpiryScanner[] scanners)
    {
        for (var i = 0; i < cycles; i++)
        {
            clock.Advance(TimeSpan.FromMinutes(5));
            await Task.WhenAll(scanners.Select(s => s.ScanAsync(CancellationToken.None)));
        }
    }
}
