using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Gateway.Tests.Common;
using Gateway.Tests.Operators;
using Microsoft.Extensions.DependencyInjection;

namespace Gateway.Tests.Webhooks;

/// <summary>
/// Quota and credit crossings delivered as webhooks end to end, on both stores: requests through the proxy cross
/// a customer's quota or use up a key's credits, and the receiver gets each crossing once, also when uncharged
/// verify calls look at the counters in between (they take and give back, which must not report anything).
/// </summary>
[TestFixtureSource(typeof(StoreKinds), nameof(StoreKinds.All))]
public sealed class WebhookQuotaEventTests(StoreKind store)
{
    private Upstream _upstream = null!;

    [SetUp]
    public void StartUpstream() => _upstream = Upstream.Start();

    [TearDown]
    public void StopUpstream() => _upstream.Dispose();

    [Test]
    public async Task CustomerQuotaOfTen_QuotaThresholdDeliveredOnceAt80AndOnceAt100()
    {
        using var receiver = new WebhookReceiver();
        await using var gateway = await StartAsync();
        var (hookId, secret) = await WebhookDeliveryTests.CreateWebhookAsync(gateway, "acme", receiver.Url, "quota.threshold", "credits.exhausted", "key.revoked");
        await gateway.AdminPostAsync("admin/orgs/acme/customers", new { id = "cust-10", name = "Ten", quota = new { limit = 10, period = "month" } }, expected: 201);
        var created = await gateway.CreateKeyAsync("acme", new { name = "metered", customerId = "cust-10" });
        var key = created.Str("key");
        using var verifier = await gateway.OperatorAsync("verifier-" + store, "verifier", "acme");

        for (var i = 0; i < 10; i++)
        {
            // Uncharged looks just before each crossing (at 7 and 9 used) would cross it themselves if they reported.
            await PeekAsync(verifier, key, expectValid: true);
            Assert.That(await gateway.StatusAsync(key), Is.EqualTo(HttpStatusCode.OK), $"request {i + 1} of 10");
        }

        await PeekAsync(verifier, key, expectValid: false);
        Assert.That(await gateway.CodeAsync(key), Is.EqualTo("quota_exceeded"));

        var posts = await SettledAsync(gateway, receiver, hookId, "quota.threshold", 2);
        Assert.That(posts.Select(p => p["data"]!["percent"]!.GetValue<int>()), Is.EquivalentTo(new[] { 80, 100 }), "each crossing once");
        foreach (var post in posts)
        {
            var data = post["data"]!.AsObject();
            Assert.Multiple(() =>
            {
                Assert.That(data.Select(p => p.Key), Is.EquivalentTo(new[] { "orgId", "customerId", "keyId", "percent", "key" }));
                Assert.That(data["orgId"]!.GetValue<string>(), Is.EqualTo("acme"));
                Assert.That(data["customerId"]!.GetValue<string>(), Is.EqualTo("cust-10"));
                Assert.That(data["keyId"]!.GetValue<string>(), Is.EqualTo(created.Str("id")));
                Assert.That(data["key"]!["id"]!.GetValue<string>(), Is.EqualTo(created.Str("id")));
                Assert.That(data["key"]!["customerId"]!.GetValue<string>(), Is.EqualTo("cust-10"));
                Assert.That(data["key"]!["lastUsedAt"], Is.Not.Null, "the key made the request that crossed it");
                Assert.That(post.ToJsonString(), Does.Not.Contain(key), "never a plaintext key");
            });
        }

        Assert.That(receiver.Posts.All(p => WebhookReceiver.Verify(secret, p)), Is.True);
    }

    [Test]
    public async Task CreditsUsedUp_CreditsExhaustedDeliveredOnce_WithTheKeyObject()
    {
        using var receiver = new WebhookReceiver();
        await using var gateway = await StartAsync();
        var (hookId, _) = await WebhookDeliveryTests.CreateWebhookAsync(gateway, "acme", receiver.Url, "quota.threshold", "credits.exhausted", "key.revoked");
        var created = await gateway.CreateKeyAsync("acme", new { name = "prepaid", credits = new { remaining = 3 } });
        var key = created.Str("key");
        using var verifier = await gateway.OperatorAsync("verifier-" + store, "verifier", "acme");

        Assert.That(await gateway.StatusAsync(key), Is.EqualTo(HttpStatusCode.OK));
        Assert.That(await gateway.StatusAsync(key), Is.EqualTo(HttpStatusCode.OK));
        for (var i = 0; i < 3; i++)
        {
            // One credit left: an uncharged look takes it and gives it back, and must not report it used up.
            await PeekAsync(verifier, key, expectValid: true);
        }

        Assert.That(await gateway.StatusAsync(key), Is.EqualTo(HttpStatusCode.OK), "the third credit");
        Assert.That(await gateway.CodeAsync(key), Is.EqualTo("credits_exhausted"));
        Assert.That(await gateway.CodeAsync(key), Is.EqualTo("credits_exhausted"));

        var posts = await SettledAsync(gateway, receiver, hookId, "credits.exhausted", 1);
        var data = posts.Single()["data"]!;
        Assert.Multiple(() =>
        {
            Assert.That(data["id"]!.GetValue<string>(), Is.EqualTo(created.Str("id")));
            Assert.That(data["orgId"]!.GetValue<string>(), Is.EqualTo("acme"));
            Assert.That(data["name"]!.GetValue<string>(), Is.EqualTo("prepaid"));
            Assert.That(data["credits"], Is.Not.Null, "the key object with its credits");
            Assert.That(posts.Single().ToJsonString(), Does.Not.Contain(key));
        });
    }

    // The key object of every event is the one GET /admin/keys/{id} shows: the live balance and the last use, not
    // the amount last set and the last use written to the store.
    [Test]
    public async Task KeyEvents_KeyObjectCarriesLiveCreditsAndLastUse_CreditsExhaustedShowsZeroEachTime()
    {
        using var receiver = new WebhookReceiver();
        await using var gateway = await StartAsync();
        await WebhookDeliveryTests.CreateWebhookAsync(gateway, "acme", receiver.Url, "credits.exhausted", "key.rotated", "key.deactivated", "key.revoked");
        var created = await gateway.CreateKeyAsync("acme", new { name = "prepaid", credits = new { remaining = 2 } });
        var (key, id) = (created.Str("key"), created.Str("id"));

        Assert.That(await gateway.StatusAsync(key), Is.EqualTo(HttpStatusCode.OK));
        Assert.That(await gateway.StatusAsync(key), Is.EqualTo(HttpStatusCode.OK));
        Assert.That(await gateway.CodeAsync(key), Is.EqualTo("credits_exhausted"));
        await Eventually.HoldsAsync(() => Of(receiver, "credits.exhausted").Count == 1, TimeSpan.FromSeconds(20), "the first credits.exhausted");

        await gateway.AdminPostAsync($"admin/keys/{id}/credits", new { op = "add", amount = 2 });
        Assert.That(await gateway.StatusAsync(key), Is.EqualTo(HttpStatusCode.OK));
        key = (await gateway.AdminPostAsync($"admin/keys/{id}/rotate")).Str("key");
        Assert.That(await gateway.StatusAsync(key), Is.EqualTo(HttpStatusCode.OK));
        Assert.That(await gateway.CodeAsync(key), Is.EqualTo("credits_exhausted"));
        await Eventually.HoldsAsync(() => Of(receiver, "credits.exhausted").Count == 2, TimeSpan.FromSeconds(20), "the second credits.exhausted");
        await gateway.AdminPostAsync($"admin/keys/{id}/deactivate");
        await gateway.AdminPostAsync($"admin/keys/{id}/revoke");
        await Eventually.HoldsAsync(() => Of(receiver, "key.revoked").Count == 1, TimeSpan.FromSeconds(20), "key.revoked");
        await Eventually.HoldsAsync(() => Of(receiver, "key.deactivated").Count == 1, TimeSpan.FromSeconds(20), "key.deactivated");

        var expected = new (string Type, int Index, long Remaining)[]
        {
            ("credits.exhausted", 0, 0), ("credits.exhausted", 1, 0), ("key.rotated", 0, 1), ("key.deactivated", 0, 0), ("key.revoked", 0, 0),
        };
        Assert.Multiple(() =>
        {
            foreach (var (type, index, remaining) in expected)
            {
                var data = Of(receiver, type).OrderBy(p => p["timestamp"]!.GetValue<DateTimeOffset>()).ElementAt(index)["data"]!;
                Assert.That(data["id"]!.GetValue<string>(), Is.EqualTo(id), $"{type} #{index + 1}");
                Assert.That(data["credits"]!["remaining"]!.GetValue<long>(), Is.EqualTo(remaining), $"{type} #{index + 1}: the live balance");
                Assert.That(data["lastUsedAt"], Is.Not.Null, $"{type} #{index + 1}: the key was used");
            }
        });
    }

    // The outbox refusing the crossing's delivery for a while (Redis out): the event is stored once it takes it.
    [Test]
    public async Task CreditsExhausted_OutboxRefusesTwice_StoredOnRetryAndDelivered()
    {
        if (store != StoreKind.Sqlite)
        {
            Assert.Ignore("The store's failures are simulated around the SQLite outbox.");
        }

        using var receiver = new WebhookReceiver();
        var settings = WebhookDeliveryTests.FastSettings();
        foreach (var (name, value) in GatewayHost.Routes(_upstream.Url, ("api", "/api/{**rest}", [])))
        {
            settings[name] = value;
        }

        FlakyOutbox? outbox = null;
        await using var gateway = await GatewayHost.StartAsync(settings, services => services.AddSingleton<Gateway.Webhooks.IWebhookStore>(sp =>
            outbox = new FlakyOutbox(ActivatorUtilities.CreateInstance<Gateway.Webhooks.SqliteWebhookStore>(sp), "credits.exhausted", failures: 2)));
        await gateway.CreateOrgAsync("acme");
        await WebhookDeliveryTests.CreateWebhookAsync(gateway, "acme", receiver.Url, "credits.exhausted");
        var key = (await gateway.CreateKeyAsync("acme", new { name = "prepaid", credits = new { remaining = 1 } })).Str("key");

        Assert.That(await gateway.StatusAsync(key), Is.EqualTo(HttpStatusCode.OK));
        await Eventually.HoldsAsync(() => Of(receiver, "credits.exhausted").Count == 1, TimeSpan.FromSeconds(30), "credits.exhausted after the outbox took it");
        Assert.That(outbox!.Refused, Is.EqualTo(2));
    }

    private sealed class FlakyOutbox(Gateway.Webhooks.IWebhookStore inner, string type, int failures) : Gateway.Webhooks.IWebhookStore
    {
        private int _failures = failures;

        public int Refused { get; private set; }

        public Task EnqueueAsync(IReadOnlyList<Gateway.Webhooks.WebhookDelivery> deliveries, CancellationToken cancellationToken)
        {
            if (deliveries.Any(d => d.Type == type) && Interlocked.Decrement(ref _failures) >= 0)
            {
                Refused++;
                throw new Gateway.Stores.StoreUnavailableException("The outbox is out.", null);
            }

            return inner.EnqueueAsync(deliveries, cancellationToken);
        }

        public Task CreateAsync(Gateway.Webhooks.Webhook webhook, CancellationToken cancellationToken) => inner.CreateAsync(webhook, cancellationToken);

        public Task<Gateway.Webhooks.Webhook?> GetAsync(string id, CancellationToken cancellationToken) => inner.GetAsync(id, cancellationToken);

        public Task<IReadOnlyList<Gateway.Webhooks.Webhook>> ListAsync(string orgId, CancellationToken cancellationToken) => inner.ListAsync(orgId, cancellationToken);

        public Task<IReadOnlyList<Gateway.Webhooks.Webhook>> ListAfterAsync(string orgId, Gateway.Stores.TimeIdPosition? after, int? count, CancellationToken cancellationToken) =>
            inner.ListAfterAsync(orgId, after, count, cancellationToken);

        public Task UpdateAsync(Gateway.Webhooks.Webhook webhook, CancellationToken cancellationToken) => inner.UpdateAsync(webhook, cancellationToken);

        public Task<bool> DeleteAsync(string id, CancellationToken cancellationToken) => inner.DeleteAsync(id, cancellationToken);

        public Task<IReadOnlyList<Gateway.Webhooks.WebhookDelivery>> ClaimDueAsync(DateTimeOffset now, DateTimeOffset leaseUntil, int max, CancellationToken cancellationToken) =>
            inner.ClaimDueAsync(now, leaseUntil, max, cancellationToken);

        public Task SaveDeliveryAsync(Gateway.Webhooks.WebhookDelivery delivery, CancellationToken cancellationToken) => inner.SaveDeliveryAsync(delivery, cancellationToken);

        public Task<IReadOnlyList<Gateway.Webhooks.WebhookDelivery>> ListDeliveriesAsync(string webhookId, Gateway.Stores.TimeIdPosition? after, int limit, CancellationToken cancellationToken) =>
            inner.ListDeliveriesAsync(webhookId, after, limit, cancellationToken);

        public Task<Gateway.Webhooks.WebhookDelivery?> GetDeliveryAsync(string deliveryId, CancellationToken cancellationToken) => inner.GetDeliveryAsync(deliveryId, cancellationToken);

        public Task<bool> MarkOnceAsync(string mark, DateTimeOffset now, TimeSpan keepFor, CancellationToken cancellationToken) => inner.MarkOnceAsync(mark, now, keepFor, cancellationToken);

        public Task AuditAsync(Gateway.Domain.AuditEntry entry, CancellationToken cancellationToken) => inner.AuditAsync(entry, cancellationToken);
    }

    private async Task<GatewayHost> StartAsync()
    {
        var settings = WebhookDeliveryTests.FastSettings();
        foreach (var (name, value) in GatewayHost.Routes(_upstream.Url, ("api", "/api/{**rest}", [])))
        {
            settings[name] = value;
        }

        var gateway = await GatewayHost.StartAsync(settings, store: store);
        await gateway.CreateOrgAsync("acme");
        return gateway;
    }

    private static async Task PeekAsync(HttpClient verifier, string key, bool expectValid)
    {
        using var response = await verifier.PostAsJsonAsync("v1/keys/verify", new { key });
        var body = JsonNode.Parse(await response.Content.ReadAsStringAsync())!;
        Assert.That(body["valid"]!.GetValue<bool>(), Is.EqualTo(expectValid), body.ToJsonString());
    }

    /// <summary>
    /// The posts of <paramref name="type"/> once the crossings' outbox writes have landed: a key revoked afterwards is
    /// published later than every crossing, so once its delivery arrived (and every delivery is delivered) no crossing
    /// is still on its way.
    /// </summary>
    private static async Task<List<JsonNode>> SettledAsync(GatewayHost gateway, WebhookReceiver receiver, string hookId, string type, int expected)
    {
        await Eventually.HoldsAsync(() => Of(receiver, type).Count >= expected, TimeSpan.FromSeconds(20), $"{expected} {type}");
        var sentinel = (await gateway.CreateKeyAsync("acme", new { name = "sentinel" })).Str("id");
        await gateway.AdminPostAsync($"admin/keys/{sentinel}/revoke");
        await Eventually.HoldsAsync(() => Of(receiver, "key.revoked").Count == 1, TimeSpan.FromSeconds(20), "the sentinel's key.revoked");
        await Eventually.ValueAsync(
            () => WebhookDeliveryTests.DeliveriesAsync(gateway, hookId),
            d => d.All(x => x!["status"]!.GetValue<string>() == "delivered"),
            TimeSpan.FromSeconds(20),
            "every delivery delivered");
        var deliveries = await WebhookDeliveryTests.DeliveriesAsync(gateway, hookId);
        Assert.That(deliveries.Count(d => d!["type"]!.GetValue<string>() == type), Is.EqualTo(expected), $"{type} stored once per crossing");
        var posts = Of(receiver, type);
        Assert.That(posts, Has.Count.EqualTo(expected), $"{type} delivered once per crossing");
        return posts;
    }

    private static List<JsonNode> Of(WebhookReceiver receiver, string type) =>
        receiver.Posts.Select(p => JsonNode.Parse(p.Body)!).Where(b => b["type"]!.GetValue<string>() == type).ToList();
}
