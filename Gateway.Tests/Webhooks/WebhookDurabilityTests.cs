using System.Text.Json.Nodes;
using Gateway.Tests.Common;

namespace Gateway.Tests.Webhooks;

/// <summary>The outbox survives a restart, and instances sharing Redis deliver each event once between them.</summary>
public sealed class WebhookDurabilityTests
{
    [Test]
    public async Task Restart_WithDeliveriesPending_DeliveredAfterRestart()
    {
        using var receiver = new WebhookReceiver(failFirst: int.MaxValue);
        var storeDirectory = Path.Combine(Path.GetTempPath(), "gw-tests", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(storeDirectory);
        var settings = WebhookDeliveryTests.FastSettings();
        settings["Gateway:Store:Path"] = Path.Combine(storeDirectory, "gateway.db");
        try
        {
            string hookId;
            string secret;
            await using (var first = await GatewayHost.StartAsync(settings))
            {
                await first.CreateOrgAsync("acme");
                (hookId, secret) = await WebhookDeliveryTests.CreateWebhookAsync(first, "acme", receiver.Url, "key.created");
                for (var i = 0; i < 3; i++)
                {
                    await first.CreateKeyAsync("acme", new { name = "k" + i });
                }

                await Eventually.HoldsAsync(async () => (await WebhookDeliveryTests.DeliveriesAsync(first, hookId)).All(d => d!["attempts"]!.GetValue<int>() > 0), TimeSpan.FromSeconds(15), "every delivery tried and refused");
            }

            var refused = receiver.Posts.Select(p => p.Id).Distinct().ToList();
            Assert.That(refused, Has.Count.EqualTo(3));
            receiver.FailFirst = 0;

            await using var second = await GatewayHost.StartAsync(settings);
            var deliveries = await Eventually.ValueAsync(
                () => WebhookDeliveryTests.DeliveriesAsync(second, hookId),
                d => d.Count == 3 && d.All(x => x!["status"]!.GetValue<string>() == "delivered"),
                TimeSpan.FromSeconds(20),
                "the pending deliveries sent by the restarted gateway");
            var accepted = receiver.Posts.Where(p => p.Status == 204).ToList();
            Assert.That(accepted.Select(p => p.Id), Is.EquivalentTo(refused), "the same events, by webhook-id");
            Assert.That(accepted.All(p => WebhookReceiver.Verify(secret, p)), Is.True);
            Assert.That(deliveries, Has.Count.EqualTo(3));
        }
        finally
        {
            try
            {
                Directory.Delete(storeDirectory, recursive: true);
            }
            catch (IOException)
            {
            }
        }
    }

    // Stopped while waiting to retry within a claim: the refused send still counts, so the delivery's attempts match
    // what the receiver saw once the restarted gateway delivers it.
    [Test]
    public async Task Restart_WhileWaitingToRetry_AttemptsMadeBeforeTheStopStillCount()
    {
        using var receiver = new WebhookReceiver(failFirst: 1);
        var storeDirectory = Path.Combine(Path.GetTempPath(), "gw-tests", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(storeDirectory);
        var settings = WebhookDeliveryTests.FastSettings();
        settings["Gateway:Store:Path"] = Path.Combine(storeDirectory, "gateway.db");
        settings["Gateway:Webhooks:RetryDelay"] = "00:01:00"; // the claim's own retry waits long enough to be stopped in
        settings["Gateway:Webhooks:MaxRetryDelay"] = "00:10:00";
        try
        {
            string hookId;
            await using (var first = await GatewayHost.StartAsync(settings))
            {
                await first.CreateOrgAsync("acme");
                (hookId, _) = await WebhookDeliveryTests.CreateWebhookAsync(first, "acme", receiver.Url, "key.created");
                await first.CreateKeyAsync("acme", new { name = "k" });
                await Eventually.HoldsAsync(() => Task.FromResult(receiver.Posts.Count == 1), TimeSpan.FromSeconds(15), "the first send, refused");
            }

            await using var second = await GatewayHost.StartAsync(settings);
            var deliveries = await Eventually.ValueAsync(
                () => WebhookDeliveryTests.DeliveriesAsync(second, hookId),
                d => d.Count == 1 && d[0]!["status"]!.GetValue<string>() == "delivered",
                TimeSpan.FromSeconds(20),
                "the delivery sent by the restarted gateway");
            Assert.That(receiver.Posts.Select(p => p.Status), Is.EqualTo(new[] { 500, 204 }));
            Assert.That(deliveries[0]!["attempts"]!.GetValue<int>(), Is.EqualTo(2), "the send refused before the stop counts");
        }
        finally
        {
            try
            {
                Directory.Delete(storeDirectory, recursive: true);
            }
            catch (IOException)
            {
            }
        }
    }

    [Test]
    public async Task TwoInstancesOnRedis_EachEventDeliveredOnceBetweenThem()
    {
        using var receiver = new WebhookReceiver();
        var prefix = $"t{Guid.NewGuid():N}:";
        await using var a = await GatewayHost.StartAsync(WebhookDeliveryTests.FastSettings(), store: StoreKind.Redis, redisPrefix: prefix);
        await using var b = await GatewayHost.StartAsync(WebhookDeliveryTests.FastSettings(), store: StoreKind.Redis, redisPrefix: prefix);
        await a.CreateOrgAsync("acme");
        var (hookId, _) = await WebhookDeliveryTests.CreateWebhookAsync(a, "acme", receiver.Url, "key.created");

        const int Events = 12;
        var keyIds = new List<string>();
        for (var i = 0; i < Events; i++)
        {
            var host = i % 2 == 0 ? a : b;
            keyIds.Add((await host.CreateKeyAsync("acme", new { name = "k" + i }))["id"]!.GetValue<string>());
        }

        await Eventually.HoldsAsync(
            async () => (await WebhookDeliveryTests.DeliveriesAsync(b, hookId)).Count(d => d!["status"]!.GetValue<string>() == "delivered") == Events,
            TimeSpan.FromSeconds(20),
            "every event delivered");

        var posts = receiver.Posts;
        var delivered = posts.Select(p => JsonNode.Parse(p.Body)!["data"]!["id"]!.GetValue<string>()).ToList();
        Assert.That(delivered.Distinct(), Is.EquivalentTo(keyIds), "each event at least once");
        Assert.That(posts.GroupBy(p => p.Id).Where(g => g.Count() > 1).Select(g => g.Key), Is.Empty, "no event once per instance");
        Assert.That(posts, Has.Count.EqualTo(Events));
    }
}
