using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Gateway.Tests.Common;

namespace Gateway.Tests.Webhooks;

/// <summary>Webhook deliveries to a real receiver, on both stores: retries until accepted, signatures, history, manual retry, disabling.</summary>
[TestFixtureSource(typeof(StoreKinds), nameof(StoreKinds.All))]
public sealed class WebhookDeliveryTests(StoreKind store)
{
    internal static Dictionary<string, string?> FastSettings(string? retryFor = null) => new()
    {
        ["Gateway:Webhooks:AllowPrivateNetworks"] = "true",
        ["Gateway:Webhooks:AllowHttp"] = "true",
        ["Gateway:Webhooks:RetryDelay"] = "00:00:00.050",
        ["Gateway:Webhooks:MaxRetryDelay"] = "00:00:00.200",
        ["Gateway:Webhooks:Timeout"] = "00:00:02",
        ["Gateway:Webhooks:ImmediateRetries"] = "1",
        ["Gateway:Webhooks:PollInterval"] = "00:00:00.050",
        ["Gateway:Webhooks:RetryFor"] = retryFor ?? "01:00:00",
    };

    internal static async Task<(string Id, string Secret)> CreateWebhookAsync(GatewayHost gateway, string org, string url, params string[] events)
    {
        using var response = await gateway.Admin.PostAsJsonAsync($"admin/orgs/{org}/webhooks", new { url, events, description = "test" });
        var text = await response.Content.ReadAsStringAsync();
        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.Created), text);
        Assert.That(response.Headers.CacheControl?.NoStore, Is.True);
        var body = JsonNode.Parse(text)!;
        var secret = body["secret"]!.GetValue<string>();
        Assert.That(secret, Does.StartWith("whsec_"));
        Assert.That(Convert.FromBase64String(secret[6..]), Has.Length.EqualTo(32));
        return (body["id"]!.GetValue<string>(), secret);
    }

    internal static async Task<JsonArray> DeliveriesAsync(GatewayHost gateway, string hookId) =>
        (await gateway.AdminGetAsync($"admin/webhooks/{hookId}/deliveries"))["items"]!.AsArray();

    [Test]
    public async Task Delivery_ReceiverFailsFirstThree_DeliveredOnceAcceptedAndSigned()
    {
        using var receiver = new WebhookReceiver(failFirst: 3);
        await using var gateway = await GatewayHost.StartAsync(FastSettings(), store: store);
        await gateway.CreateOrgAsync("acme");
        var (hookId, secret) = await CreateWebhookAsync(gateway, "acme", receiver.Url, "key.created", "key.revoked");

        var key = await gateway.CreateKeyAsync("acme", new { name = "svc" });
        var keyId = key["id"]!.GetValue<string>();

        var delivered = await Eventually.ValueAsync(
            () => DeliveriesAsync(gateway, hookId),
            d => d.Count == 1 && d[0]!["status"]!.GetValue<string>() == "delivered",
            TimeSpan.FromSeconds(20),
            "the delivery accepted after three failures");
        Assert.That(delivered[0]!["attempts"]!.GetValue<int>(), Is.EqualTo(4));
        Assert.That(delivered[0]!["responseStatus"]!.GetValue<int>(), Is.EqualTo(204));
        Assert.That(delivered[0]!["type"]!.GetValue<string>(), Is.EqualTo("key.created"));

        var posts = receiver.Posts;
        Assert.That(posts, Has.Count.EqualTo(4), "three refused, one accepted, nothing after");
        Assert.That(posts.Select(p => p.Status), Is.EqualTo(new[] { 500, 500, 500, 204 }));
        Assert.That(posts.Select(p => p.Id).Distinct().Single(), Is.EqualTo(delivered[0]!["id"]!.GetValue<string>()), "one webhook-id on every attempt");
        Assert.That(posts.All(p => WebhookReceiver.Verify(secret, p)), Is.True, "every attempt signed the Standard Webhooks way");
        Assert.That(WebhookReceiver.Verify("whsec_" + Convert.ToBase64String(new byte[32]), posts[^1]), Is.False);

        var body = JsonNode.Parse(posts[^1].Body)!;
        Assert.That(body["type"]!.GetValue<string>(), Is.EqualTo("key.created"));
        Assert.That(body["timestamp"], Is.Not.Null);
        Assert.That(body["data"]!["id"]!.GetValue<string>(), Is.EqualTo(keyId));
        Assert.That(body["data"]!["orgId"]!.GetValue<string>(), Is.EqualTo("acme"));
        Assert.That(posts[^1].Body, Does.Not.Contain(key["key"]!.GetValue<string>()), "never a plaintext key");
        Assert.That(long.Parse(posts[^1].Headers["webhook-timestamp"], System.Globalization.CultureInfo.InvariantCulture), Is.EqualTo(DateTimeOffset.UtcNow.ToUnixTimeSeconds()).Within(60));

        // The secret is shown once: never in a read.
        var read = await gateway.AdminGetAsync($"admin/webhooks/{hookId}");
        Assert.That(read["secret"], Is.Null);
        Assert.That(read.ToJsonString(), Does.Not.Contain(secret));

        // Manual retry sends the same delivery again.
        var deliveryId = delivered[0]!["id"]!.GetValue<string>();
        await gateway.AdminPostAsync($"admin/webhooks/{hookId}/deliveries/{deliveryId}/retry");
        await Eventually.HoldsAsync(() => receiver.Posts.Count == 5, TimeSpan.FromSeconds(15), "the retried delivery");
        Assert.That(receiver.Posts[^1].Id, Is.EqualTo(deliveryId));
    }

    [Test]
    public async Task KeyEvents_RevokeDeactivateRotate_EachDeliveredWithItsType()
    {
        using var receiver = new WebhookReceiver();
        await using var gateway = await GatewayHost.StartAsync(FastSettings(), store: store);
        await gateway.CreateOrgAsync("acme");
        await CreateWebhookAsync(gateway, "acme", receiver.Url, "key.rotated", "key.revoked", "key.deactivated");
        var a = (await gateway.CreateKeyAsync("acme", new { name = "a" }))["id"]!.GetValue<string>();
        var b = (await gateway.CreateKeyAsync("acme", new { name = "b" }))["id"]!.GetValue<string>();
        await gateway.AdminPostAsync($"admin/keys/{a}/rotate");
        await gateway.AdminPostAsync($"admin/keys/{a}/deactivate");
        await gateway.AdminPostAsync($"admin/keys/{b}/revoke");

        await Eventually.HoldsAsync(() => receiver.Posts.Count >= 3, TimeSpan.FromSeconds(15), "three events");
        var types = receiver.Posts.Select(p => (JsonNode.Parse(p.Body)!["type"]!.GetValue<string>(), JsonNode.Parse(p.Body)!["data"]!["id"]!.GetValue<string>())).ToList();
        Assert.That(types, Is.EquivalentTo(new[] { ("key.rotated", a), ("key.deactivated", a), ("key.revoked", b) }), "key.created is not subscribed");
    }

    // Where the organization's key events go is a security setting: creating, changing and deleting a webhook are
    // audited with their actor, never with the secret.
    [Test]
    public async Task WebhookChanges_AuditedWithActorAndChanges_NeverTheSecret()
    {
        await using var gateway = await GatewayHost.StartAsync(FastSettings(), store: store);
        await gateway.CreateOrgAsync("acme");
        var (id, secret) = await CreateWebhookAsync(gateway, "acme", "http://127.0.0.1:9/a", "key.revoked");
        using (var patch = new HttpRequestMessage(HttpMethod.Patch, $"admin/webhooks/{id}") { Content = JsonContent.Create(new { url = "http://127.0.0.1:9/b", enabled = false }) })
        {
            patch.Headers.Add("X-Admin-Actor", "carol");
            using var patched = await gateway.Admin.SendAsync(patch);
            Assert.That(patched.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        }

        using (var unchanged = await gateway.Admin.PatchAsJsonAsync($"admin/webhooks/{id}", new { enabled = false }))
        {
            Assert.That(unchanged.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        }

        using (var deleted = await gateway.Admin.DeleteAsync($"admin/webhooks/{id}"))
        {
            Assert.That(deleted.StatusCode, Is.EqualTo(HttpStatusCode.NoContent));
        }

        var audit = await gateway.AdminGetAsync("admin/audit?org=acme");
        Assert.That(audit.ToJsonString(), Does.Not.Contain(secret));
        var entries = audit["items"]!.AsArray().Where(e => e!["action"]!.GetValue<string>().StartsWith("webhook.", StringComparison.Ordinal)).Reverse().ToList();
        Assert.That(entries.Select(e => (e!["action"]!.GetValue<string>(), e["actor"]!.GetValue<string>())), Is.EqualTo(new[]
        {
            ("webhook.create", "admin"), ("webhook.update", "carol"), ("webhook.delete", "admin"),
        }), "a PATCH that changes nothing writes no entry");
        Assert.That(entries.Select(e => e!["changes"]!["webhookId"]!["after"]!.GetValue<string>()), Is.All.EqualTo(id));
        Assert.That(entries[1]!["changes"]!["url"]!["after"]!.GetValue<string>(), Is.EqualTo("http://127.0.0.1:9/b"));
        Assert.That(entries[1]!["changes"]!["enabled"]!["after"]!.GetValue<bool>(), Is.False);
        Assert.That(entries[2]!["changes"]!["url"]!["before"]!.GetValue<string>(), Is.EqualTo("http://127.0.0.1:9/b"));
    }

    // A leaked key that is revoked (or a leaked default key that is rotated) is revoked (rotated) too: a receiver
    // subscribed to key.revoked alone must not miss it.
    [Test]
    public async Task LeakedKeys_RevokedAndDefaultRotated_AlsoDeliveredAsKeyRevokedAndKeyRotated()
    {
        using var receiver = new WebhookReceiver();
        await using var gateway = await GatewayHost.StartAsync(FastSettings(), store: store);
        var org = await gateway.CreateOrgAsync("acme");
        await CreateWebhookAsync(gateway, "acme", receiver.Url, "key.revoked", "key.rotated", "key.leaked");
        var created = await gateway.CreateKeyAsync("acme", new { name = "a" });
        var defaultKey = org["defaultKey"]!["key"]!.GetValue<string>();
        var defaultId = org["defaultKey"]!["id"]!.GetValue<string>();

        await gateway.AdminPostAsync("admin/leaked-keys", new { tokens = new[] { created["key"]!.GetValue<string>(), defaultKey } });

        await Eventually.HoldsAsync(() => receiver.Posts.Count >= 4, TimeSpan.FromSeconds(15), "four events");
        var types = receiver.Posts.Select(p => (JsonNode.Parse(p.Body)!["type"]!.GetValue<string>(), JsonNode.Parse(p.Body)!["data"]!["id"]!.GetValue<string>())).ToList();
        var a = created["id"]!.GetValue<string>();
        Assert.That(types, Is.EquivalentTo(new[] { ("key.leaked", a), ("key.revoked", a), ("key.leaked", defaultId), ("key.rotated", defaultId) }));
    }

    [Test]
    public async Task Endpoint_FailingForRetryFor_IsDisabledAndAudited()
    {
        using var receiver = new WebhookReceiver(failFirst: int.MaxValue);
        await using var gateway = await GatewayHost.StartAsync(FastSettings(retryFor: "00:00:01"), store: store);
        await gateway.CreateOrgAsync("acme");
        var (hookId, _) = await CreateWebhookAsync(gateway, "acme", receiver.Url, "key.created");
        await gateway.CreateKeyAsync("acme", new { name = "svc" });

        var hook = await Eventually.ValueAsync(
            () => gateway.AdminGetAsync($"admin/webhooks/{hookId}"),
            h => h["enabled"]!.GetValue<bool>() == false,
            TimeSpan.FromSeconds(20),
            "the webhook disabled after failing for RetryFor");
        Assert.That(hook["disabledReason"]!.GetValue<string>(), Does.Contain("No successful delivery"));
        // The audit entry is written right after the webhook is disabled, so it may trail the read above.
        await Eventually.ValueAsync(
            () => gateway.AdminGetAsync("admin/audit?org=acme"),
            a => a["items"]!.AsArray().Any(e => e!["action"]!.GetValue<string>() == "webhook.disabled"),
            TimeSpan.FromSeconds(10),
            "the disabling audited");
        var deliveries = await DeliveriesAsync(gateway, hookId);
        Assert.That(deliveries[0]!["status"]!.GetValue<string>(), Is.EqualTo("failed"));
    }
}
