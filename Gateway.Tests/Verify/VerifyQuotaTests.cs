using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Gateway.Tests.Common;
using Gateway.Tests.Operators;

namespace Gateway.Tests.Verify;

/// <summary>
/// The verify API and the proxy charge the same quota and credits: an uncharged verify spends nothing (what it
/// takes is given back), a charged one spends what a proxied request would, and both refuse alike afterwards.
/// </summary>
[TestFixtureSource(typeof(StoreKinds), nameof(StoreKinds.All))]
public sealed class VerifyQuotaTests(StoreKind store) : GatewayFixture(store)
{
    protected override string OrgPrefix => "vq" + Store;

    [Test]
    public async Task Verify_Uncharged_LeavesCreditsWhole_AndTheProxyStillGetsAllOfThem()
    {
        var org = await NewOrgAsync();
        using var verifier = await Host.OperatorAsync("peek-" + org, "verifier", org);
        var key = Plaintext(await Host.CreateKeyAsync(org, new { name = "prepaid", credits = new { remaining = 3 } }));

        for (var i = 0; i < 5; i++)
        {
            var peek = await VerifyAsync(verifier, new { key });
            Assert.That(peek["valid"]!.GetValue<bool>(), Is.True, $"uncharged call {i + 1}");
            Assert.That(peek["credits"]!["remaining"]!.GetValue<long>(), Is.EqualTo(3), $"uncharged call {i + 1} spends nothing");
        }

        for (var i = 0; i < 3; i++)
        {
            Assert.That(await Host.StatusAsync(key), Is.EqualTo(HttpStatusCode.OK), $"proxied request {i + 1} of 3");
        }

        Assert.That(await Host.CodeAsync(key), Is.EqualTo("credits_exhausted"));
        var after = await VerifyAsync(verifier, new { key });
        Assert.Multiple(() =>
        {
            Assert.That(after.Str("code"), Is.EqualTo("credits_exhausted"), "an uncharged call reports the refusal too");
            Assert.That(after["credits"]!["remaining"]!.GetValue<long>(), Is.EqualTo(0));
        });
    }

    [Test]
    public async Task Verify_Charged_SpendsCredits_CreditsExhaustedAfterThree_AndTheProxyRefusesToo()
    {
        var org = await NewOrgAsync();
        using var verifier = await Host.OperatorAsync("spend-" + org, "verifier", org);
        var key = Plaintext(await Host.CreateKeyAsync(org, new { name = "prepaid", credits = new { remaining = 3 } }));

        for (var i = 0; i < 3; i++)
        {
            var charged = await VerifyAsync(verifier, new { key, charge = true });
            Assert.That(charged["valid"]!.GetValue<bool>(), Is.True, $"charged call {i + 1}");
            Assert.That(charged["credits"]!["remaining"]!.GetValue<long>(), Is.EqualTo(2 - i));
        }

        var refused = await VerifyAsync(verifier, new { key, charge = true });
        Assert.Multiple(() =>
        {
            Assert.That(refused["valid"]!.GetValue<bool>(), Is.False);
            Assert.That(refused.Str("code"), Is.EqualTo("credits_exhausted"));
            Assert.That(refused["credits"]!["remaining"]!.GetValue<long>(), Is.EqualTo(0));
        });
        Assert.That(await Host.CodeAsync(key), Is.EqualTo("credits_exhausted"), "the proxy counts what verify spent");
    }

    [Test]
    public async Task Verify_Cost_IsChargedOrOnlyChecked()
    {
        var org = await NewOrgAsync();
        using var verifier = await Host.OperatorAsync("cost-" + org, "verifier", org);
        var key = Plaintext(await Host.CreateKeyAsync(org, new { name = "prepaid", credits = new { remaining = 5 } }));

        var peek = await VerifyAsync(verifier, new { key, cost = 5 });
        Assert.That(peek["valid"]!.GetValue<bool>(), Is.True, "5 of 5 would be admitted");
        Assert.That(peek["credits"]!["remaining"]!.GetValue<long>(), Is.EqualTo(5));
        Assert.That((await VerifyAsync(verifier, new { key, cost = 6 })).Str("code"), Is.EqualTo("credits_exhausted"), "6 of 5 would not");

        var spent = await VerifyAsync(verifier, new { key, cost = 4, charge = true });
        Assert.That(spent["credits"]!["remaining"]!.GetValue<long>(), Is.EqualTo(1));

        var tooMuch = await VerifyAsync(verifier, new { key, cost = 2, charge = true });
        Assert.Multiple(() =>
        {
            Assert.That(tooMuch.Str("code"), Is.EqualTo("credits_exhausted"));
            Assert.That(tooMuch["credits"]!["remaining"]!.GetValue<long>(), Is.EqualTo(1), "a refused charge takes nothing");
        });
        Assert.That(await Host.StatusAsync(key), Is.EqualTo(HttpStatusCode.OK), "the last credit is the proxy's");
        Assert.That(await Host.CodeAsync(key), Is.EqualTo("credits_exhausted"));
    }

    [Test]
    public async Task Verify_CustomerQuota_ShownWithLimitRemainingReset_QuotaExceededOnceUsedUp()
    {
        var org = await NewOrgAsync();
        using var verifier = await Host.OperatorAsync("quota-" + org, "verifier", org);
        await Host.AdminPostAsync($"admin/orgs/{org}/customers", new { id = "cust-q", name = "Q", quota = new { limit = 4, period = "month" } }, expected: 201);
        var key = Plaintext(await Host.CreateKeyAsync(org, new { name = "metered", customerId = "cust-q" }));
        var now = DateTimeOffset.UtcNow;
        var monthEnd = new DateTimeOffset(now.Year, now.Month, 1, 0, 0, 0, TimeSpan.Zero).AddMonths(1);

        for (var i = 0; i < 3; i++)
        {
            var peek = await VerifyAsync(verifier, new { key });
            Assert.Multiple(() =>
            {
                Assert.That(peek["valid"]!.GetValue<bool>(), Is.True);
                Assert.That(peek["quota"]!["limit"]!.GetValue<long>(), Is.EqualTo(4));
                Assert.That(peek["quota"]!["remaining"]!.GetValue<long>(), Is.EqualTo(4), "uncharged: nothing spent");
                Assert.That(peek["quota"]!["reset"]!.GetValue<long>(), Is.EqualTo((monthEnd - now).TotalSeconds).Within(30));
                Assert.That(peek["credits"], Is.Null);
            });
        }

        var charged = await VerifyAsync(verifier, new { key, charge = true });
        Assert.That(charged["quota"]!["remaining"]!.GetValue<long>(), Is.EqualTo(3));
        Assert.That(await Host.StatusAsync(key), Is.EqualTo(HttpStatusCode.OK));
        var costly = await VerifyAsync(verifier, new { key, cost = 2, charge = true });
        Assert.That(costly["quota"]!["remaining"]!.GetValue<long>(), Is.EqualTo(0), "cost 2 counts 2 against the quota");

        var exceeded = await VerifyAsync(verifier, new { key });
        Assert.Multiple(() =>
        {
            Assert.That(exceeded["valid"]!.GetValue<bool>(), Is.False);
            Assert.That(exceeded.Str("code"), Is.EqualTo("quota_exceeded"));
            Assert.That(exceeded["quota"]!["remaining"]!.GetValue<long>(), Is.EqualTo(0));
            Assert.That(exceeded["quota"]!["reset"]!.GetValue<long>(), Is.GreaterThan(0));
        });
        Assert.That(await Host.CodeAsync(key), Is.EqualTo("quota_exceeded"));

        var usage = await Host.AdminGetAsync($"admin/orgs/{org}/customers/cust-q/usage");
        Assert.That(usage["quota"]!["used"]!.GetValue<long>(), Is.EqualTo(4), "1 + 1 proxied + 2; the uncharged calls left no trace");
    }

    private static async Task<JsonObject> VerifyAsync(HttpClient client, object body)
    {
        using var response = await client.PostAsJsonAsync("v1/keys/verify", body);
        var text = await response.Content.ReadAsStringAsync();
        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK), text);
        return JsonNode.Parse(text)!.AsObject();
    }
}
