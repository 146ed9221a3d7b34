using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Gateway.Keys;
using Gateway.Tests.Common;
using Gateway.Tests.Operators;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;

namespace Gateway.Tests.Verify;

/// <summary>
/// <c>POST /v1/keys/verify</c> against a running gateway: the proxy's decision for a key, always 200, limits
/// charged only with <c>charge</c>, and another organization's key indistinguishable from an unknown one.
/// </summary>
[TestFixtureSource(typeof(StoreKinds), nameof(StoreKinds.All))]
public sealed class VerifyApiTests(StoreKind store) : GatewayFixture(store)
{
    private readonly FakeTimeProvider _time = new(DateTimeOffset.UtcNow);

    protected override string OrgPrefix => "v" + Store;

    protected override void ConfigureServices(IServiceCollection services) => services.AddSingleton<TimeProvider>(_time);

    [Test]
    public async Task Verify_ValidKey_Returns200ValidWithTheKeysFieldsAndLimit()
    {
        var org = await NewOrgAsync();
        var key = await Host.CreateKeyAsync(org, new { name = "svc", scopes = new[] { "read" }, customerId = "cust-1", rateLimit = new { permitLimit = 5, window = "00:01:00" } });
        using var verifier = await Host.OperatorAsync("verifier-" + org, "verifier", org);

        var (status, body) = await VerifyAsync(verifier, new { key = Plaintext(key), scopes = new[] { "read" } });

        Assert.Multiple(() =>
        {
            Assert.That(status, Is.EqualTo(HttpStatusCode.OK));
            Assert.That(body["valid"]!.GetValue<bool>(), Is.True);
            Assert.That(body["code"], Is.Null);
            Assert.That(body.Str("keyId"), Is.EqualTo(Id(key)));
            Assert.That(body.Str("orgId"), Is.EqualTo(org));
            Assert.That(body.Str("name"), Is.EqualTo("svc"));
            Assert.That(body.Str("environment"), Is.EqualTo("production"));
            Assert.That(body.Str("customerId"), Is.EqualTo("cust-1"));
            Assert.That(body["scopes"]!.AsArray().Select(s => s!.GetValue<string>()), Is.EqualTo(new[] { "read" }));
            Assert.That(body["rateLimit"]!["limit"]!.GetValue<int>(), Is.EqualTo(5));
            Assert.That(body["rateLimit"]!["remaining"]!.GetValue<int>(), Is.EqualTo(5), "not charged: nothing spent");
            Assert.That(body.ContainsKey("quota") && body["quota"] is null, Is.True);
            Assert.That(body.ContainsKey("credits") && body["credits"] is null, Is.True);
        });
    }

    [Test]
    public async Task Verify_EachRefusal_Returns200WithTheProxysCode()
    {
        var org = await NewOrgAsync();
        using var verifier = await Host.OperatorAsync("refusals-" + org, "verifier", org);
        var revoked = await Host.CreateKeyAsync(org, new { name = "revoked" });
        await Host.AdminPostAsync($"admin/keys/{Id(revoked)}/revoke");
        var inactive = await Host.CreateKeyAsync(org, new { name = "inactive" });
        await Host.AdminPostAsync($"admin/keys/{Id(inactive)}/deactivate");
        var expiring = await Host.CreateKeyAsync(org, new { name = "expiring", expiresAt = _time.GetUtcNow().AddMinutes(5) });
        var reader = await Host.CreateKeyAsync(org, new { name = "reader", scopes = new[] { "read" } });
        var fenced = await Host.CreateKeyAsync(org, new { name = "fenced", allowedCidrs = new[] { "10.0.0.0/8" } });

        Assert.That(await CodeAsync(verifier, new { key = Plaintext(revoked) }), Is.EqualTo("key_revoked"));
        Assert.That(await CodeAsync(verifier, new { key = Plaintext(inactive) }), Is.EqualTo("key_inactive"));
        Assert.That(await CodeAsync(verifier, new { key = Plaintext(expiring) }), Is.Null);
        _time.Advance(TimeSpan.FromMinutes(6));
        Assert.That(await CodeAsync(verifier, new { key = Plaintext(expiring) }), Is.EqualTo("key_expired"));
        Assert.That(await CodeAsync(verifier, new { key = Plaintext(reader), environment = "staging" }), Is.EqualTo("wrong_environment"));
        Assert.That(await CodeAsync(verifier, new { key = Plaintext(reader), scopes = new[] { "read", "write" } }), Is.EqualTo("insufficient_scope"));
        Assert.That(await CodeAsync(verifier, new { key = Plaintext(fenced), clientIp = "192.0.2.7" }), Is.EqualTo("ip_not_allowed"));
        Assert.That(await CodeAsync(verifier, new { key = Plaintext(fenced), clientIp = "10.1.2.3" }), Is.Null);
        Assert.That(await CodeAsync(verifier, new { key = "gw_live_not-a-key" }), Is.EqualTo("invalid_key"));

        var (_, revokedBody) = await VerifyAsync(verifier, new { key = Plaintext(revoked) });
        Assert.That(revokedBody.Str("keyId"), Is.EqualTo(Id(revoked)), "the caller's own key is named");
    }

    [Test]
    public async Task Verify_AnotherOrganizationsKey_AnswersExactlyLikeAnUnknownKey()
    {
        var org = await NewOrgAsync();
        var other = await NewOrgAsync();
        using var verifier = await Host.OperatorAsync("scoped-" + org, "verifier", org);
        var active = await Host.CreateKeyAsync(other, new { name = "active" });
        var revoked = await Host.CreateKeyAsync(other, new { name = "gone" });
        await Host.AdminPostAsync($"admin/keys/{Id(revoked)}/revoke");
        var unknown = ApiKeyFormat.Generate("gw", "production");

        var unknownText = await RawAsync(verifier, new { key = unknown });
        Assert.Multiple(async () =>
        {
            Assert.That(JsonNode.Parse(unknownText)!.Str("code"), Is.EqualTo("invalid_key"));
            Assert.That(await RawAsync(verifier, new { key = Plaintext(active) }), Is.EqualTo(unknownText));
            Assert.That(await RawAsync(verifier, new { key = Plaintext(revoked) }), Is.EqualTo(unknownText));
            Assert.That(await RawAsync(verifier, new { key = Plaintext(active), charge = true }), Is.EqualTo(unknownText));
        });

        // An org-less verifier sees every organization.
        using var global = await Host.OperatorAsync("global-" + org, "verifier");
        Assert.That(await CodeAsync(global, new { key = Plaintext(active) }), Is.Null);
    }

    [Test]
    public async Task Verify_Charge_ConsumesTheKeysLimitOnlyWhenAsked_AndTheProxySeesTheSameCount()
    {
        var org = await NewOrgAsync();
        using var verifier = await Host.OperatorAsync("charge-" + org, "viewer", org);
        var key = Plaintext(await Host.CreateKeyAsync(org, new { name = "limited", rateLimit = new { permitLimit = 2, window = "00:10:00" } }));

        for (var i = 0; i < 5; i++)
        {
            var (_, peek) = await VerifyAsync(verifier, new { key });
            Assert.That(peek["valid"]!.GetValue<bool>(), Is.True, "uncharged calls spend nothing");
        }

        var (_, first) = await VerifyAsync(verifier, new { key, charge = true });
        Assert.That(first["rateLimit"]!["remaining"]!.GetValue<int>(), Is.EqualTo(1));
        Assert.That(await Host.StatusAsync(key), Is.EqualTo(HttpStatusCode.OK), "the proxy takes the last permit");

        var (_, refused) = await VerifyAsync(verifier, new { key, charge = true });
        Assert.Multiple(() =>
        {
            Assert.That(refused["valid"]!.GetValue<bool>(), Is.False);
            Assert.That(refused.Str("code"), Is.EqualTo("rate_limited"));
            Assert.That(refused["rateLimit"]!["remaining"]!.GetValue<int>(), Is.EqualTo(0));
            Assert.That(refused["rateLimit"]!["reset"]!.GetValue<long>(), Is.GreaterThanOrEqualTo(1));
        });
        Assert.That(await CodeAsync(verifier, new { key }), Is.EqualTo("rate_limited"), "an uncharged call reports the refusal too");
    }

    [TestCase("101058054")]
    [TestCase("0x6060606")]
    [TestCase("6.6.6")]
    [TestCase("006.6.6.6")]
    [TestCase("fe80::1%eth0")]
    [TestCase(" 6.6.6.6")]
    public async Task Verify_ClientIpNotAPlainAddress_Returns400(string clientIp)
    {
        // The lenient parser reads the first two as 6.6.6.6, which a 6.6.6.6/32 allowlist would have let through.
        using var verifier = await Host.OperatorAsync("ip-" + Store + "-" + Math.Abs(clientIp.GetHashCode()), "verifier");
        using var response = await verifier.PostAsJsonAsync("v1/keys/verify", new { key = "x", clientIp });

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.BadRequest));
        Assert.That((await GatewayHost.ProblemAsync(response))["errors"]!.AsObject().Select(e => e.Key), Is.EqualTo(new[] { "clientIp" }));
    }

    [Test]
    public async Task Verify_BadBody_Returns400NamingTheField_WithoutTokenReturns401()
    {
        using var verifier = await Host.OperatorAsync("bad-" + Store, "verifier");
        using var response = await verifier.PostAsJsonAsync("v1/keys/verify", new { key = "x", cost = -1, charge = "yes", clientIp = "nope", environment = "prod", extra = 1 });
        var problem = await GatewayHost.ProblemAsync(response);
        Assert.Multiple(() =>
        {
            Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.BadRequest));
            Assert.That(problem.Str("code"), Is.EqualTo("invalid_request"));
            Assert.That(problem["errors"]!.AsObject().Select(e => e.Key), Is.SupersetOf(new[] { "cost", "charge", "clientIp", "environment", "extra" }));
            Assert.That(response.Headers.CacheControl?.NoStore, Is.True);
        });

        using var anonymous = new HttpClient { BaseAddress = Host.AdminUrl };
        using var refused = await anonymous.PostAsJsonAsync("v1/keys/verify", new { key = "x" });
        Assert.That(refused.StatusCode, Is.EqualTo(HttpStatusCode.Unauthorized));
        using var onProxy = await Host.Proxy.PostAsJsonAsync("v1/keys/verify", new { key = "x" });
        Assert.That(onProxy.StatusCode, Is.Not.EqualTo(HttpStatusCode.OK), "the verify API is on the admin listener only");
    }

    private static async Task<(HttpStatusCode Status, JsonObject Body)> VerifyAsync(HttpClient client, object body)
    {
        using var response = await client.PostAsJsonAsync("v1/keys/verify", body);
        var text = await response.Content.ReadAsStringAsync();
        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK), text);
        return (response.StatusCode, JsonNode.Parse(text)!.AsObject());
    }

    private static async Task<string> RawAsync(HttpClient client, object body)
    {
        using var response = await client.PostAsJsonAsync("v1/keys/verify", body);
        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        return await response.Content.ReadAsStringAsync();
    }

    private static async Task<string?> CodeAsync(HttpClient client, object body)
    {
        var (_, json) = await VerifyAsync(client, body);
        return json["code"]?.GetValue<string>();
    }
}
