using System.Net;
using System.Net.Http.Json;
using System.Reflection;
using System.Text.Json.Nodes;
using Gateway.Client;
using Gateway.Tests.Common;
using Gateway.Tests.Webhooks;

namespace Gateway.Tests.Sdk;

/// <summary>Gateway.Client against a running gateway: every OpenAPI operation has a method, and the methods work.</summary>
public sealed class GatewayClientTests : GatewayFixture
{
    protected override string OrgPrefix => "sdkc";

    protected override Dictionary<string, string?> Settings(string upstream)
    {
        // Webhooks to a loopback receiver over http, polled often, so deliveries are seen within the test.
        var settings = base.Settings(upstream);
        foreach (var (name, value) in WebhookDeliveryTests.FastSettings())
        {
            settings[name] = value;
        }

        return settings;
    }

    [Test]
    public async Task OpenApiDocument_EveryOperation_HasExactlyOneClientMethod()
    {
        var document = (await Host.Admin.GetFromJsonAsync<JsonObject>("openapi/v1.json"))!;
        var operations = document["paths"]!.AsObject()
            .SelectMany(p => p.Value!.AsObject().Select(m => $"{m.Key.ToUpperInvariant()} {p.Key}"))
            .ToList();
        var methods = typeof(GatewayClient).GetMethods(BindingFlags.Public | BindingFlags.Instance)
            .Select(m => m.GetCustomAttribute<GatewayOperationAttribute>())
            .OfType<GatewayOperationAttribute>()
            .Select(a => $"{a.Method} {a.Path}")
            .ToList();

        Assert.Multiple(() =>
        {
            Assert.That(operations, Is.Not.Empty);
            Assert.That(operations.Except(methods), Is.Empty, "operations without a GatewayClient method ([GatewayOperation])");
            Assert.That(methods.Except(operations), Is.Empty, "client methods for operations the gateway does not have");
            Assert.That(methods, Is.Unique);
        });
    }

    [Test]
    public async Task Client_ManagesKeysAndVerifies_ProblemsThrowGatewayApiExceptionWithCode()
    {
        var gateway = GatewayClient.Create(Host.AdminUrl, GatewayHost.AdminToken);
        using var http = gateway.Http;
        var org = await gateway.CreateOrgAsync(new CreateOrgRequest(OrgPrefix + "-1"));
        var key = await gateway.CreateKeyAsync(org.Id, new CreateKeyRequest("svc") { Scopes = ["read"], ExpiresAt = DateTimeOffset.UtcNow.AddDays(1) });
        var updated = await gateway.UpdateKeyAsync(key.Id, new KeyUpdate { Description = "updated", ClearExpiresAt = true });
        var verified = await gateway.VerifyKeyAsync(new VerifyKeyRequest(key.Key!) { Scopes = ["read"] });
        var listed = await gateway.ListKeysAsync(org.Id);

        Assert.Multiple(() =>
        {
            Assert.That(org.DefaultKey?.Key, Does.StartWith("gw_live_"));
            Assert.That(key.Key, Does.StartWith("gw_live_"));
            Assert.That(updated.Description, Is.EqualTo("updated"));
            Assert.That(updated.ExpiresAt, Is.Null);
            Assert.That(verified.Valid, Is.True);
            Assert.That(verified.KeyId, Is.EqualTo(key.Id));
            Assert.That(listed.Items.Select(k => k.Name), Is.EquivalentTo(new[] { "default", "svc" }));
        });

        var missing = Assert.ThrowsAsync<GatewayApiException>(() => gateway.GetKeyAsync("key_missing"));
        Assert.That((missing!.Status, missing.Code), Is.EqualTo((HttpStatusCode.NotFound, "not_found")));

        var invalid = Assert.ThrowsAsync<GatewayApiException>(() => gateway.CreateKeyAsync(org.Id, new CreateKeyRequest("bad name!") { Scopes = ["nope"] }));
        Assert.Multiple(() =>
        {
            Assert.That(invalid!.Status, Is.EqualTo(HttpStatusCode.BadRequest));
            Assert.That(invalid.Code, Is.EqualTo("invalid_request"));
            Assert.That(invalid.Errors.Keys, Is.SupersetOf(new[] { "name", "scopes" }));
        });

        await gateway.RevokeKeyAsync(key.Id);
        Assert.That((await gateway.VerifyKeyAsync(new VerifyKeyRequest(key.Key!))).Code, Is.EqualTo("key_revoked"));
    }

    [Test]
    public async Task Client_WebhooksAndRequestLog_CreateDeliverRetryDisableDelete_PageAndFilterRequests()
    {
        using var receiver = new WebhookReceiver();
        var gateway = GatewayClient.Create(Host.AdminUrl, GatewayHost.AdminToken);
        using var http = gateway.Http;
        var org = await NewOrgAsync();

        var hook = await gateway.CreateWebhookAsync(org, new CreateWebhookRequest(receiver.Url, ["key.created"], "sdk"));
        Assert.Multiple(() =>
        {
            Assert.That(hook.Id, Does.StartWith("wh_"));
            Assert.That(hook.Secret, Does.StartWith("whsec_"));
            Assert.That((hook.OrgId, hook.Url, hook.Description, hook.Enabled), Is.EqualTo((org, receiver.Url, "sdk", true)));
            Assert.That(hook.Events, Is.EqualTo(new[] { "key.created" }));
        });

        var key = await gateway.CreateKeyAsync(org, new CreateKeyRequest("logged"));
        var delivered = await Eventually.ValueAsync(
            () => gateway.ListWebhookDeliveriesAsync(hook.Id, limit: 10),
            p => p.Items.Count == 1 && p.Items[0].Status == "delivered",
            TimeSpan.FromSeconds(20),
            "the key.created delivery");
        Assert.That((delivered.Items[0].WebhookId, delivered.Items[0].Type, delivered.Items[0].ResponseStatus), Is.EqualTo((hook.Id, "key.created", (int?)204)));
        Assert.That(WebhookReceiver.Verify(hook.Secret!, receiver.Posts.Single()), Is.True, "the secret the client returned signs the delivery");

        var retried = await gateway.RetryWebhookDeliveryAsync(hook.Id, delivered.Items[0].Id);
        Assert.That((retried.Id, retried.Status), Is.EqualTo((delivered.Items[0].Id, "pending")));
        await Eventually.HoldsAsync(() => receiver.Posts.Count == 2, TimeSpan.FromSeconds(15), "the retried delivery");

        var listed = await gateway.ListWebhooksAsync(org);
        Assert.That(listed.Items.Select(w => (w.Id, w.Secret)), Is.EqualTo(new[] { (hook.Id, (string?)null) }), "listed, never with its secret");

        var disabled = await gateway.UpdateWebhookAsync(hook.Id, new WebhookUpdate { Enabled = false, ClearDescription = true, Events = ["key.created", "key.revoked"] });
        Assert.Multiple(() =>
        {
            Assert.That(disabled.Enabled, Is.False);
            Assert.That(disabled.Description, Is.Null);
            Assert.That(disabled.Events, Is.EqualTo(new[] { "key.created", "key.revoked" }));
        });
        Assert.That((await gateway.GetWebhookAsync(hook.Id)).Enabled, Is.False);
        var refused = Assert.ThrowsAsync<GatewayApiException>(() => gateway.RetryWebhookDeliveryAsync(hook.Id, delivered.Items[0].Id));
        Assert.That((refused!.Status, refused.Code), Is.EqualTo((HttpStatusCode.Conflict, "conflict")));

        await gateway.DeleteWebhookAsync(hook.Id);
        var gone = Assert.ThrowsAsync<GatewayApiException>(() => gateway.GetWebhookAsync(hook.Id));
        Assert.That((gone!.Status, gone.Code), Is.EqualTo((HttpStatusCode.NotFound, "not_found")));
        Assert.That((await gateway.ListWebhooksAsync(org)).Items, Is.Empty);

        // Three proxied requests: two accepted, one refused (a deactivated key).
        Assert.That(await Host.StatusAsync(key.Key, "/api/one"), Is.EqualTo(HttpStatusCode.OK));
        Assert.That(await Host.StatusAsync(key.Key, "/api/two"), Is.EqualTo(HttpStatusCode.OK));
        await gateway.DeactivateKeyAsync(key.Id);
        var refusedStatus = (int)await Host.StatusAsync(key.Key, "/api/three");
        Assert.That(refusedStatus, Is.InRange(400, 499));

        var all = await Eventually.ValueAsync(
            () => gateway.ListRequestsAsync(org, new RequestLogQuery { KeyId = key.Id }),
            p => p.Items.Count == 3,
            TimeSpan.FromSeconds(15),
            "three logged requests");
        Assert.That(all.Items.Select(r => r.Path), Is.EqualTo(new[] { "/api/three", "/api/two", "/api/one" }), "newest first");

        var first = await gateway.ListRequestsAsync(org, new RequestLogQuery { KeyId = key.Id, Limit = 2 });
        var second = await gateway.ListRequestsAsync(org, new RequestLogQuery { KeyId = key.Id, Limit = 2, Cursor = first.Next });
        Assert.That(first.Next, Is.Not.Null);
        Assert.That(first.Items.Concat(second.Items).Select(r => r.RequestId), Is.EqualTo(all.Items.Select(r => r.RequestId)), "the cursor continues the read");
        Assert.That(second.Next, Is.Null);

        var refusals = await gateway.ListRequestsAsync(org, new RequestLogQuery { Status = refusedStatus, Code = all.Items[0].Code, From = DateTimeOffset.UtcNow.AddMinutes(-5) });
        Assert.That(refusals.Items.Select(r => (r.Path, r.Status)), Is.EqualTo(new[] { ("/api/three", refusedStatus) }));
        Assert.That(all.Items[0].Code, Is.Not.Null);

        var one = await gateway.GetRequestAsync(all.Items[1].RequestId);
        Assert.That((one.OrgId, one.KeyId, one.Method, one.Path, one.Status), Is.EqualTo(((string?)org, (string?)key.Id, "GET", "/api/two", 200)));

        var invalid = Assert.ThrowsAsync<GatewayApiException>(() => gateway.ListRequestsAsync(org, new RequestLogQuery { Limit = 0 }));
        Assert.That((invalid!.Status, invalid.Code, invalid.Errors.Keys.Single()), Is.EqualTo((HttpStatusCode.BadRequest, "invalid_request", "limit")));
    }

    [Test]
    public async Task Client_Deletes_SucceedOnceThenThrowNotFound()
    {
        var gateway = GatewayClient.Create(Host.AdminUrl, GatewayHost.AdminToken);
        using var http = gateway.Http;
        var org = await NewOrgAsync();
        await gateway.CreateCustomerAsync(org, new JsonObject { ["id"] = "cus_del", ["name"] = "Deleted" });

        await gateway.DeleteCustomerAsync(org, "cus_del");

        var gone = Assert.ThrowsAsync<GatewayApiException>(() => gateway.GetCustomerAsync(org, "cus_del"));
        var again = Assert.ThrowsAsync<GatewayApiException>(() => gateway.DeleteCustomerAsync(org, "cus_del"));
        var noWebhook = Assert.ThrowsAsync<GatewayApiException>(() => gateway.DeleteWebhookAsync("wh_missing"));
        Assert.That(new[] { (gone!.Status, gone.Code), (again!.Status, again.Code), (noWebhook!.Status, noWebhook.Code) },
            Is.All.EqualTo((HttpStatusCode.NotFound, "not_found")));
    }

    [Test]
    public async Task Client_SignIn_ProvidersAndLoginUrlWithoutOidc()
    {
        var gateway = GatewayClient.Create(Host.AdminUrl, GatewayHost.AdminToken);
        using var http = gateway.Http;

        Assert.That((await gateway.GetAuthProvidersAsync()).Oidc, Is.False);

        var login = gateway.GetOidcLoginUrl("/console/keys");
        Assert.That(login.ToString(), Is.EqualTo(new Uri(Host.AdminUrl, "/admin/auth/oidc/login?returnUrl=%2Fconsole%2Fkeys").ToString()));
        using var answer = await http.GetAsync(login);
        Assert.That(answer.StatusCode, Is.EqualTo(HttpStatusCode.NotFound), "the address is the gateway's sign-in endpoint (404 while OpenID Connect is off)");

        Assert.DoesNotThrowAsync(() => gateway.SignOutAsync(), "a token caller has no session to end");
    }

    [Test]
    public void Client_SuccessThatIsNotJson_ThrowsGatewayApiException()
    {
        // A wrong base address or a captive proxy answers 200 with a page: the documented exception, not a JsonException.
        using var page = WireMock.Server.WireMockServer.Start();
        page.Given(WireMock.RequestBuilders.Request.Create().UsingAnyMethod())
            .RespondWith(WireMock.ResponseBuilders.Response.Create().WithStatusCode(200).WithHeader("Content-Type", "text/html").WithBody("<html>hello</html>"));
        var gateway = GatewayClient.Create(new Uri(page.Url!), "gwa_unused");

        var ex = Assert.ThrowsAsync<GatewayApiException>(() => gateway.VerifyKeyAsync(new VerifyKeyRequest("gw_live_x")));

        Assert.Multiple(() =>
        {
            Assert.That(ex!.Status, Is.EqualTo(HttpStatusCode.OK));
            Assert.That(ex.Code, Is.EqualTo("unexpected_response"));
        });
    }
}
