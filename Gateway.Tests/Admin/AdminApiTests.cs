using System.Net;
using System.Net.Http.Json;
using System.Text;
using Gateway.Tests.Common;

namespace Gateway.Tests.Admin;

/// <summary>The admin API (docs/admin-api.md): results, refusals and the exact shape of what comes back.</summary>
[TestFixtureSource(typeof(StoreKinds), nameof(StoreKinds.All))]
public sealed class AdminApiTests(StoreKind store) : GatewayFixture(store)
{
    private static readonly string[] KeyFields = ["id", "orgId", "name", "prefix", "environment", "scopes", "status", "isDefault", "description", "createdBy", "createdAt", "expiresAt", "lastUsedAt", "customerId", "rateLimit"];

    protected override Dictionary<string, string?> Settings(string upstream)
    {
        var settings = base.Settings(upstream);
        settings["Gateway:Environment"] = "staging";
        return settings;
    }

    [OneTimeSetUp]
    public Task CreateAcmeAsync() => Host.CreateOrgAsync("acme");

    [Test]
    public async Task CreateOrg_Returns201WithDefaultKeyPlaintextOnce()
    {
        var org = await Host.CreateOrgAsync("org_create");

        Assert.That(org["id"]!.GetValue<string>(), Is.EqualTo("org_create"));
        var defaultKey = org["defaultKey"]!.AsObject();
        Assert.That(defaultKey["key"]!.GetValue<string>(), Does.StartWith("gw_stage_"));
        Assert.That(defaultKey["name"]!.GetValue<string>(), Is.EqualTo("default"));
        Assert.That(defaultKey["isDefault"]!.GetValue<bool>(), Is.True);
        Assert.That(KeyFields.All(defaultKey.ContainsKey), Is.True);

        var fetched = await Host.AdminGetAsync("admin/orgs/org_create");
        Assert.That(fetched.ContainsKey("defaultKey"), Is.False);
        var list = await Host.AdminGetAsync("admin/orgs");
        Assert.That(list["items"]!.AsArray().Select(o => o!["id"]!.GetValue<string>()), Does.Contain("org_create"));
        var keys = await Host.AdminGetAsync("admin/orgs/org_create/keys");
        Assert.That(keys.ToJsonString(), Does.Not.Contain(defaultKey["key"]!.GetValue<string>()));
    }

    [Test]
    public async Task CreateKey_DefaultsAndExactShape_PlaintextOnlyInCreate()
    {
        var key = await Host.CreateKeyAsync("acme", new { name = "shape_key" });

        Assert.That(KeyFields.All(key.ContainsKey), Is.True, key.ToJsonString());
        Assert.That(key["environment"]!.GetValue<string>(), Is.EqualTo("staging"), "defaults to Gateway:Environment");
        Assert.That(key["scopes"]!.ToJsonString(), Is.EqualTo("[\"*\"]"));
        Assert.That(key["status"]!.GetValue<string>(), Is.EqualTo("active"));
        Assert.That(key["isDefault"]!.GetValue<bool>(), Is.False);
        var plaintext = key["key"]!.GetValue<string>();
        Assert.That(key["prefix"]!.GetValue<string>(), Is.EqualTo(plaintext[..15]));

        var got = await Host.AdminGetAsync($"admin/keys/{key["id"]!.GetValue<string>()}");
        Assert.That(got.ContainsKey("key"), Is.False);
        Assert.That((await Host.AdminGetAsync("admin/orgs/acme/keys")).ToJsonString(), Does.Not.Contain(plaintext));
        Assert.That((await Host.AdminGetAsync("admin/audit?org=acme")).ToJsonString(), Does.Not.Contain(plaintext));
    }

    [TestCase("{\"id\":\"acme\"}", HttpStatusCode.Conflict, null)]
    [TestCase("{\"id\":\"bad id\"}", HttpStatusCode.BadRequest, "id")]
    [TestCase("{\"id\":\"\"}", HttpStatusCode.BadRequest, "id")]
    [TestCase("{\"name\":\"x\"}", HttpStatusCode.BadRequest, "id")]
    [TestCase("{\"id\":5}", HttpStatusCode.BadRequest, "id")]
    [TestCase("{\"id\":\"ok_id\",\"name\":7}", HttpStatusCode.BadRequest, "name")]
    [TestCase("[]", HttpStatusCode.BadRequest, "body")]
    [TestCase("{", HttpStatusCode.BadRequest, "body")]
    [TestCase("", HttpStatusCode.BadRequest, "body")]
    public async Task CreateOrg_BadInput_Returns4xxNamingField(string body, HttpStatusCode status, string? field)
    {
        using var response = await Host.Admin.PostAsync("admin/orgs", new StringContent(body, Encoding.UTF8, "application/json"));

        Assert.That(response.StatusCode, Is.EqualTo(status));
        var problem = await GatewayHost.ProblemAsync(response);
        if (field is not null)
        {
            Assert.That(problem["errors"]![field], Is.Not.Null, problem.ToJsonString());
        }
    }

    [TestCase("{}", "name")]
    [TestCase("{\"name\":\"has-hyphen\"}", "name")]
    [TestCase("{\"name\":\"has space\"}", "name")]
    [TestCase("{\"name\":\"has.dot\"}", "name")]
    [TestCase("{\"name\":\"\"}", "name")]
    [TestCase("{\"name\":\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"}", "name")]
    [TestCase("{\"name\":1}", "name")]
    [TestCase("{\"name\":\"k\",\"environment\":\"prod\"}", "environment")]
    [TestCase("{\"name\":\"k\",\"environment\":1}", "environment")]
    [TestCase("{\"name\":\"k\",\"scopes\":\"read\"}", "scopes")]
    [TestCase("{\"name\":\"k\",\"scopes\":[\"unknown\"]}", "scopes")]
    [TestCase("{\"name\":\"k\",\"scopes\":[1]}", "scopes[0]")]
    [TestCase("{\"name\":\"k\",\"expiresAt\":\"2001-01-01T00:00:00Z\"}", "expiresAt")]
    [TestCase("{\"name\":\"k\",\"expiresAt\":\"tomorrow\"}", "expiresAt")]
    [TestCase("{\"name\":\"k\",\"expiresAt\":12345}", "expiresAt")]
    [TestCase("{\"name\":\"k\",\"description\":[]}", "description")]
    [TestCase("{\"name\":\"k\",\"createdBy\":{}}", "createdBy")]
    [TestCase("{\"name\":\"k\",\"customerId\":\"bad id!\"}", "customerId")]
    [TestCase("{\"name\":\"k\",\"rateLimit\":5}", "rateLimit")]
    [TestCase("{\"name\":\"k\",\"rateLimit\":{\"permitLimit\":0,\"window\":\"00:01:00\"}}", "rateLimit.permitLimit")]
    [TestCase("{\"name\":\"k\",\"rateLimit\":{\"permitLimit\":5}}", "rateLimit.window")]
    [TestCase("{\"name\":\"k\",\"rateLimit\":{\"permitLimit\":5,\"window\":\"2.00:00:00\"}}", "rateLimit.window")]
    [TestCase("{\"name\":\"k\",\"rateLimit\":{\"permitLimit\":\"5\",\"window\":\"00:01:00\"}}", "rateLimit.permitLimit")]
    [TestCase("{\"name\":\"k\",\"surprise\":true}", "surprise")]
    [TestCase("{\"name\":\"k\",\"key\":\"gw_live_chosen\"}", "key")]
    public async Task CreateKey_BadField_Returns400NamingIt(string body, string field)
    {
        using var response = await Host.Admin.PostAsync("admin/orgs/acme/keys", new StringContent(body, Encoding.UTF8, "application/json"));

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.BadRequest));
        var problem = await GatewayHost.ProblemAsync(response);
        Assert.That(problem["code"]!.GetValue<string>(), Is.EqualTo("invalid_request"));
        Assert.That(problem["errors"]![field], Is.Not.Null, problem.ToJsonString());
        Assert.That(problem["detail"]!.GetValue<string>(), Does.Contain(field.Split('[')[0]));
    }

    [TestCase("{\"name\":\"k\",\"credits\":{\"remaining\":1,\"refill\":{\"amount\":1,\"period\":null}}}", "credits.refill.period", "Must be a string.")]
    [TestCase("{\"name\":\"k\",\"credits\":{\"remaining\":1,\"refill\":{\"amount\":1,\"period\":\"week\"}}}", "credits.refill.period", "Must be day or month.")]
    [TestCase("{\"name\":\"k\",\"credits\":{\"remaining\":1,\"refill\":{\"amount\":1}}}", "credits.refill.period", "Required.")]
    [TestCase("{\"name\":\"k\",\"credits\":{\"remaining\":1,\"refill\":{\"period\":\"day\"}}}", "credits.refill.amount", "Required.")]
    [TestCase("{\"name\":\"k\",\"credits\":{\"remaining\":1,\"refill\":{\"amount\":1,\"period\":\"day\",\"x\":1}}}", "credits.refill.x", null)]
    [TestCase("{\"name\":\"k\",\"credits\":{\"refill\":null}}", "credits.remaining", "Required.")]
    public async Task CreateKey_BadNestedField_OneErrorNamingItsFullPath(string body, string field, string? message)
    {
        using var response = await Host.Admin.PostAsync("admin/orgs/acme/keys", new StringContent(body, Encoding.UTF8, "application/json"));

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.BadRequest));
        var errors = (await GatewayHost.ProblemAsync(response))["errors"]!.AsObject();
        Assert.That(errors.Select(e => e.Key), Is.EqualTo(new[] { field }), errors.ToJsonString());
        if (message is not null)
        {
            Assert.That(errors[field]!.AsArray().Select(m => m!.GetValue<string>()), Is.EqualTo(new[] { message }));
        }
    }

    [Test]
    public async Task CreateKey_DuplicateName_Returns409ButOtherOrgMayReuseIt()
    {
        await Host.CreateKeyAsync("acme", new { name = "dupe" });
        await Host.CreateOrgAsync("other_org");

        using var response = await Host.Admin.PostAsJsonAsync("admin/orgs/acme/keys", new { name = "dupe" });
        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.Conflict));
        Assert.That((await GatewayHost.ProblemAsync(response))["field"]!.GetValue<string>(), Is.EqualTo("name"));

        await Host.CreateKeyAsync("other_org", new { name = "dupe" });
    }

    [TestCase("GET", "admin/orgs/nope")]
    [TestCase("GET", "admin/orgs/nope/keys")]
    [TestCase("POST", "admin/orgs/nope/keys")]
    [TestCase("GET", "admin/keys/key_nope")]
    [TestCase("PATCH", "admin/keys/key_nope")]
    [TestCase("POST", "admin/keys/key_nope/rotate")]
    [TestCase("POST", "admin/keys/key_nope/revoke")]
    [TestCase("POST", "admin/keys/key_nope/deactivate")]
    [TestCase("GET", "admin/audit?org=nope")]
    [TestCase("GET", "admin/nothing-here")]
    public async Task Unknown_Returns404Problem(string method, string path)
    {
        using var request = new HttpRequestMessage(new HttpMethod(method), path);
        if (method != "GET")
        {
            request.Content = new StringContent(path.EndsWith("rotate", StringComparison.Ordinal) ? "{}" : "{\"name\":\"k\"}", Encoding.UTF8, "application/json");
        }

        using var response = await Host.Admin.SendAsync(request);

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.NotFound));
        Assert.That((await GatewayHost.ProblemAsync(response))["code"]!.GetValue<string>(), Is.EqualTo("not_found"));
    }

    [TestCase(null)]
    [TestCase("Bearer wrong-token-000000000")]
    [TestCase("Basic dGVzdDp0ZXN0")]
    [TestCase("Bearer " + GatewayHost.AdminToken + "x")]
    public async Task AdminCall_WithoutValidToken_Returns401(string? authorization)
    {
        using var client = new HttpClient { BaseAddress = Host.AdminUrl };
        using var request = new HttpRequestMessage(HttpMethod.Post, "admin/orgs") { Content = JsonContent.Create(new { id = "sneaky" }) };
        if (authorization is not null)
        {
            request.Headers.TryAddWithoutValidation("Authorization", authorization);
        }

        using var response = await client.SendAsync(request);

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.Unauthorized));
        Assert.That(response.Headers.WwwAuthenticate.ToString(), Is.EqualTo("Bearer"));
        Assert.That((await GatewayHost.ProblemAsync(response))["code"]!.GetValue<string>(), Is.EqualTo("admin_unauthorized"));
        using var check = await Host.Admin.GetAsync("admin/orgs/sneaky");
        Assert.That(check.StatusCode, Is.EqualTo(HttpStatusCode.NotFound), "nothing was created");
    }

    [Test]
    public async Task Operations_NeedNoTokenOnAdminListener()
    {
        using (await Host.CallAsync("/no-such-route", null))
        {
        }

        using var client = new HttpClient { BaseAddress = Host.AdminUrl };
        using var health = await client.GetAsync("healthz");
        using var ready = await client.GetAsync("readyz");
        using var metrics = await client.GetAsync("metrics");

        Assert.That(health.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        Assert.That(ready.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        Assert.That(metrics.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        Assert.That(await metrics.Content.ReadAsStringAsync(), Does.Contain("gateway_requests"));
    }
}
