using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Gateway.Tests.Common;
using Gateway.Tests.Operators;

namespace Gateway.Tests.Verify;

/// <summary>
/// A charged verify call spends what a proxied request would, so it is counted in usage like one: under its key
/// (and so in its organization's and customer's usage) and its outcome, or, without a key it may name, under the
/// route <c>(verify)</c>. An uncharged call spends nothing and is counted nowhere. Usage reports add the answering
/// instance's unflushed counts, so no flush is needed to see them.
/// </summary>
[TestFixtureSource(typeof(StoreKinds), nameof(StoreKinds.All))]
public sealed class VerifyUsageTests(StoreKind store) : GatewayFixture(store)
{
    protected override string OrgPrefix => "vu" + Store;

    [Test]
    public async Task Verify_Charged_CountedAsAllowed_InKeyOrgAndCustomerUsage_MatchingTheQuotaUsed()
    {
        var org = await NewOrgAsync();
        using var verifier = await Host.OperatorAsync("count-" + org, "verifier", org);
        await Host.AdminPostAsync($"admin/orgs/{org}/customers", new { id = "cust-v", name = "V", quota = new { limit = 100, period = "month" } }, expected: 201);
        var created = await Host.CreateKeyAsync(org, new { name = "metered", customerId = "cust-v" });
        var key = Plaintext(created);

        for (var i = 0; i < 3; i++)
        {
            Assert.That((await VerifyAsync(verifier, new { key, charge = true }))["valid"]!.GetValue<bool>(), Is.True);
        }

        Assert.That(await Host.StatusAsync(key), Is.EqualTo(HttpStatusCode.OK));

        var keyUsage = await Host.AdminGetAsync($"admin/keys/{Id(created)}/usage");
        var orgUsage = await Host.AdminGetAsync($"admin/orgs/{org}/usage");
        var customerUsage = await Host.AdminGetAsync($"admin/orgs/{org}/customers/cust-v/usage");
        Assert.Multiple(() =>
        {
            Assert.That(Counts(keyUsage["totals"]!), Is.EquivalentTo(new Dictionary<string, long> { ["allowed"] = 4 }), "three charged calls and one proxied request");
            Assert.That(Counts(orgUsage["totals"]!), Is.EquivalentTo(new Dictionary<string, long> { ["allowed"] = 4 }));
            Assert.That(Counts(customerUsage["totals"]!), Is.EquivalentTo(new Dictionary<string, long> { ["allowed"] = 4 }));
            // On Redis the quota's used also holds the units this instance leased and has not handed out yet (rate-limits.md).
            Assert.That(customerUsage["quota"]!["used"]!.GetValue<long>(), Store == StoreKind.Sqlite ? Is.EqualTo(4) : Is.GreaterThanOrEqualTo(4), "what is billed from usage is what the quota counted");
        });
    }

    [Test]
    public async Task Verify_ChargedRefusals_CountedUnderTheirCodes_UnknownKeysUnderTheVerifyRoute()
    {
        var org = await NewOrgAsync();
        using var verifier = await Host.OperatorAsync("refused-" + org, "verifier", org);
        var prepaid = await Host.CreateKeyAsync(org, new { name = "prepaid", credits = new { remaining = 1 } });
        var limited = await Host.CreateKeyAsync(org, new { name = "limited", scopes = new[] { "read" }, rateLimit = new { permitLimit = 1, window = "00:10:00" } });
        var inactive = await Host.CreateKeyAsync(org, new { name = "inactive" });
        await Host.AdminPostAsync($"admin/keys/{Id(inactive)}/deactivate");
        var routesBefore = await VerifyRouteCountsAsync();

        Assert.That(CodeOf(await VerifyAsync(verifier, new { key = Plaintext(prepaid), charge = true })), Is.Null);
        Assert.That((await VerifyAsync(verifier, new { key = Plaintext(prepaid), charge = true })).Str("code"), Is.EqualTo("credits_exhausted"));
        Assert.That(CodeOf(await VerifyAsync(verifier, new { key = Plaintext(limited), charge = true })), Is.Null);
        Assert.That((await VerifyAsync(verifier, new { key = Plaintext(limited), charge = true })).Str("code"), Is.EqualTo("rate_limited"));
        Assert.That((await VerifyAsync(verifier, new { key = Plaintext(limited), charge = true, scopes = new[] { "write" } })).Str("code"), Is.EqualTo("insufficient_scope"));
        Assert.That((await VerifyAsync(verifier, new { key = Plaintext(inactive), charge = true })).Str("code"), Is.EqualTo("key_inactive"));
        Assert.That((await VerifyAsync(verifier, new { key = "gw_live_" + new string('A', 38), charge = true })).Str("code"), Is.EqualTo("invalid_key"));

        var prepaidUsage = Counts((await Host.AdminGetAsync($"admin/keys/{Id(prepaid)}/usage"))["totals"]!);
        var limitedUsage = Counts((await Host.AdminGetAsync($"admin/keys/{Id(limited)}/usage"))["totals"]!);
        var inactiveUsage = Counts((await Host.AdminGetAsync($"admin/keys/{Id(inactive)}/usage"))["totals"]!);
        var orgTotal = (await Host.AdminGetAsync($"admin/orgs/{org}/usage"))["totals"]!["total"]!.GetValue<long>();
        var routesAfter = await VerifyRouteCountsAsync();
        Assert.Multiple(() =>
        {
            Assert.That(prepaidUsage, Is.EquivalentTo(new Dictionary<string, long> { ["allowed"] = 1, ["credits_exhausted"] = 1 }));
            Assert.That(limitedUsage, Is.EquivalentTo(new Dictionary<string, long> { ["allowed"] = 1, ["rate_limited"] = 1, ["insufficient_scope"] = 1 }));
            Assert.That(inactiveUsage, Is.EquivalentTo(new Dictionary<string, long> { ["key_inactive"] = 1 }));
            Assert.That(orgTotal, Is.EqualTo(6));
            Assert.That(routesAfter.GetValueOrDefault("invalid_key") - routesBefore.GetValueOrDefault("invalid_key"), Is.EqualTo(1),
                "an unknown key has no organization: counted by route, as the proxy counts it");
        });
    }

    [Test]
    public async Task Verify_Uncharged_CountedNowhere()
    {
        var org = await NewOrgAsync();
        using var verifier = await Host.OperatorAsync("peek-" + org, "verifier", org);
        var created = await Host.CreateKeyAsync(org, new { name = "peeked", credits = new { remaining = 1 } });
        var routesBefore = await VerifyRouteCountsAsync();

        Assert.That((await VerifyAsync(verifier, new { key = Plaintext(created) }))["valid"]!.GetValue<bool>(), Is.True);
        Assert.That((await VerifyAsync(verifier, new { key = Plaintext(created), charge = false, cost = 5 })).Str("code"), Is.EqualTo("credits_exhausted"));
        Assert.That((await VerifyAsync(verifier, new { key = "gw_live_" + new string('B', 38) })).Str("code"), Is.EqualTo("invalid_key"));

        var keyTotal = (await Host.AdminGetAsync($"admin/keys/{Id(created)}/usage"))["totals"]!["total"]!.GetValue<long>();
        var orgTotal = (await Host.AdminGetAsync($"admin/orgs/{org}/usage"))["totals"]!["total"]!.GetValue<long>();
        var routesAfter = await VerifyRouteCountsAsync();
        Assert.Multiple(() =>
        {
            Assert.That(keyTotal, Is.Zero);
            Assert.That(orgTotal, Is.Zero);
            Assert.That(routesAfter, Is.EquivalentTo(routesBefore));
        });
    }

    // The (verify) route's counts in the routes report; other fixtures' tests share the host, so compare before and after.
    private async Task<Dictionary<string, long>> VerifyRouteCountsAsync()
    {
        var routes = (await Host.AdminGetAsync("admin/usage/routes"))["routes"]!.AsArray();
        var verify = routes.FirstOrDefault(r => r!.Str("routeId") == "(verify)");
        return verify is null ? [] : Counts(verify["usage"]!);
    }

    private static string? CodeOf(JsonObject answer) => answer["code"]?.GetValue<string>();

    private static Dictionary<string, long> Counts(JsonNode tally) =>
        tally["counts"]!.AsObject().ToDictionary(p => p.Key, p => p.Value!.GetValue<long>());

    private static async Task<JsonObject> VerifyAsync(HttpClient client, object body)
    {
        using var response = await client.PostAsJsonAsync("v1/keys/verify", body);
        var text = await response.Content.ReadAsStringAsync();
        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK), text);
        return JsonNode.Parse(text)!.AsObject();
    }
}
