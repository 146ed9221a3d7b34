using System.Net;
using Gateway.Tests.Common;
using Microsoft.Playwright;

namespace Gateway.Tests.Admin;

/// <summary>The request log, webhook and customer screens, against a real gateway (same harness as the rest).</summary>
public sealed partial class AdminConsoleTests
{
    /// <summary>Waits until the request log (written in the background) holds <paramref name="count"/> records at <paramref name="path"/>.</summary>
    private async Task WaitForLogAsync(string path, int count)
        => await GatewayHost.WaitForAsync(async () => (await _gateway.AdminGetAsync(path))["items"]!.AsArray().Count >= count, TimeSpan.FromSeconds(10));

    [Test]
    public async Task Console_Logs_ShowsRequestsFiltersDetailLoadMoreAndLiveTail()
    {
        await _gateway.CreateOrgAsync("logs");
        var key = await _gateway.CreateKeyAsync("logs", new { name = "tail", environment = "production", scopes = new[] { "*" }, rateLimit = new { permitLimit = 52, window = "00:01:00" } });
        var plaintext = key["key"]!.GetValue<string>();
        for (var i = 0; i < 53; i++)
        {
            await _gateway.StatusAsync(plaintext);
        }

        Assert.That(await _gateway.CodeAsync(plaintext), Is.EqualTo("rate_limited"));
        await WaitForLogAsync("admin/orgs/logs/requests?limit=1000", 54);
        await ConnectAsync();
        await OpenAsync("#/orgs/logs/logs");

        var rows = _page.Locator("#logs tbody tr");
        await Assertions.Expect(rows).ToHaveCountAsync(50);
        await Assertions.Expect(rows.First).ToContainTextAsync("429");
        await Assertions.Expect(rows.First).ToContainTextAsync("rate_limited");
        await Assertions.Expect(rows.First).ToContainTextAsync("tail");
        await _page.Locator("#logs-more").ClickAsync();
        await Assertions.Expect(rows).ToHaveCountAsync(54);
        await Assertions.Expect(_page.Locator("#logs-more")).ToBeHiddenAsync();

        await _page.Locator("#log-filters input[name=code]").FillAsync("rate_limited");
        await _page.Locator("#log-apply").ClickAsync();
        await Assertions.Expect(rows).ToHaveCountAsync(2);
        Assert.That(_page.Url, Does.Contain("code=rate_limited"), "the filter is in the address");
        await _page.Locator("#log-filters input[name=code]").FillAsync("");
        await _page.Locator("#log-filters input[name=status]").FillAsync("200");
        await _page.Locator("#log-apply").ClickAsync();
        await Assertions.Expect(rows).ToHaveCountAsync(50);
        await Assertions.Expect(_page.Locator("#logs-more")).ToBeVisibleAsync();

        var firstId = await rows.First.GetAttributeAsync("data-key");
        await rows.First.GetByRole(AriaRole.Button).ClickAsync();
        await Assertions.Expect(_page.Locator("#log-detail")).ToBeVisibleAsync();
        await Assertions.Expect(_page.Locator("#log-detail")).ToContainTextAsync(firstId!);
        await Assertions.Expect(_page.Locator("#log-detail")).ToContainTextAsync("/api/x");
        await Assertions.Expect(_page.Locator("#log-detail")).ToContainTextAsync("tail");
        await _page.SetViewportSizeAsync(1280, 800);
        await Screenshot("console-logs.png");

        // Live tail: a new request shows without reloading the view.
        await _page.Locator("#log-filters input[name=status]").FillAsync("");
        await _page.Locator("#log-apply").ClickAsync();
        await Assertions.Expect(rows).ToHaveCountAsync(50);
        await _page.Locator("#log-live").CheckAsync();
        using var late = await _gateway.CallAsync("/api/late", plaintext);
        await Assertions.Expect(rows.First).ToContainTextAsync("/api/late", new() { Timeout = 15_000 });

        // The key's page lists its requests.
        await OpenAsync("#/orgs/logs/keys/" + key["id"]!.GetValue<string>());
        await Assertions.Expect(_page.Locator("#key-requests #logs tbody tr")).ToHaveCountAsync(50);
    }

    [Test]
    public async Task Console_RefusedRequests_ShowsRequestsUnderNoOrganization()
    {
        Assert.That(await _gateway.CodeAsync("gw_live_unknownunknownunknownunknownunknown1", "/api/nokey"), Is.EqualTo("invalid_key"));
        await WaitForLogAsync("admin/requests?code=invalid_key", 1);
        await ConnectAsync();
        await OpenAsync("#/requests");

        var row = _page.Locator("#logs tbody tr", new() { HasText = "/api/nokey" });
        await Assertions.Expect(row.First).ToContainTextAsync("invalid_key");
        await Assertions.Expect(row.First).ToContainTextAsync("401");
    }

    [Test]
    public async Task Console_Webhooks_CreateRevealsSecretOnceEditDeliveriesRetryDelete()
    {
        await _gateway.CreateOrgAsync("hooks");
        await ConnectAsync();
        await OpenAsync("#/orgs/hooks/webhooks");
        await Assertions.Expect(_page.Locator("#webhooks-empty")).ToBeVisibleAsync();

        await _page.Locator("#new-webhook").ClickAsync();
        await _page.Locator("#webhook-form input[name=url]").FillAsync(_upstream.Url + "hooks/ok");
        await _page.Locator("#webhook-form input[name=events][value='key.created']").CheckAsync();
        await _page.Locator("#webhook-form input[name=events][value='key.revoked']").CheckAsync();
        await _page.Locator("#webhook-form textarea[name=description]").FillAsync("billing sync");
        await _page.Locator("#webhook-form-submit").ClickAsync();
        var secret = await RevealAsync();
        Assert.That(secret, Does.StartWith("whsec_"));

        var stored = (await _gateway.AdminGetAsync("admin/orgs/hooks/webhooks"))["items"]!.AsArray().Single()!;
        var id = stored["id"]!.GetValue<string>();
        Assert.That(stored["events"]!.AsArray().Select(e => e!.GetValue<string>()), Is.EqualTo(new[] { "key.created", "key.revoked" }));
        var row = _page.Locator($"#webhooks tr[data-key='{id}']");
        await Assertions.Expect(row).ToContainTextAsync("hooks/ok");
        await Assertions.Expect(row).ToContainTextAsync("billing sync");

        // A real event, delivered to the upstream: the delivery history shows it.
        await _gateway.CreateKeyAsync("hooks", new { name = "hooked" });
        await GatewayHost.WaitForAsync(async () => (await _gateway.AdminGetAsync($"admin/webhooks/{id}/deliveries"))["items"]!.AsArray().Any(d => d!["status"]!.GetValue<string>() == "delivered"), TimeSpan.FromSeconds(10));
        await row.Locator("a").ClickAsync();
        await _page.WaitForFunctionAsync("h => document.getElementById('view').dataset.route === h", $"#/orgs/hooks/webhooks/{id}");
        var delivery = _page.Locator("#deliveries tbody tr").First;
        await Assertions.Expect(delivery).ToContainTextAsync("key.created");
        await Assertions.Expect(delivery).ToContainTextAsync("delivered");
        await Assertions.Expect(delivery).ToContainTextAsync("200");
        await _page.SetViewportSizeAsync(1280, 800);
        await Screenshot("console-webhook.png");

        // Edit: fewer events, disabled.
        await _page.Locator("#webhook-actions [data-action=edit]").ClickAsync();
        await _page.Locator("#webhook-edit input[name=events][value='key.revoked']").UncheckAsync();
        await _page.Locator("#webhook-edit select[name=enabled]").SelectOptionAsync("false");
        await _page.Locator("#webhook-edit-submit").ClickAsync();
        await Assertions.Expect(_page.Locator("#webhook-title")).ToContainTextAsync("disabled");
        stored = await _gateway.AdminGetAsync($"admin/webhooks/{id}");
        Assert.That(stored["events"]!.AsArray().Select(e => e!.GetValue<string>()), Is.EqualTo(new[] { "key.created" }));
        Assert.That(stored["enabled"]!.GetValue<bool>(), Is.False);

        // Retry on a disabled webhook is refused, in plain words; once enabled it is accepted.
        await Assertions.Expect(_page.Locator("#deliveries tbody tr").First.GetByRole(AriaRole.Button, new() { Name = "Retry" })).ToHaveCountAsync(0);
        var failing = await _gateway.AdminPostAsync("admin/orgs/hooks/webhooks", new { url = "http://127.0.0.1:9/closed", events = new[] { "key.revoked" } }, expected: 201);
        var failingId = failing["id"]!.GetValue<string>();
        var revoked = await _gateway.CreateKeyAsync("hooks", new { name = "gone" });
        await _gateway.AdminPostAsync($"admin/keys/{revoked["id"]}/revoke");
        await GatewayHost.WaitForAsync(async () => (await _gateway.AdminGetAsync($"admin/webhooks/{failingId}/deliveries"))["items"]!.AsArray().Any(d => d!["attempts"]!.GetValue<int>() > 0), TimeSpan.FromSeconds(10));
        await OpenAsync($"#/orgs/hooks/webhooks/{failingId}");
        var pending = _page.Locator("#deliveries tbody tr").First;
        await Assertions.Expect(pending).ToContainTextAsync("key.revoked");
        await Assertions.Expect(pending).ToContainTextAsync("pending");
        using (var patch = await _gateway.Admin.PatchAsync($"admin/webhooks/{failingId}", System.Net.Http.Json.JsonContent.Create(new { enabled = false })))
        {
            Assert.That(patch.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        }

        await pending.GetByRole(AriaRole.Button, new() { Name = "Retry" }).ClickAsync();
        await Assertions.Expect(_page.Locator("#toasts")).ToContainTextAsync("enable it first");

        // Delete with confirmation.
        await OpenAsync("#/orgs/hooks/webhooks");
        await _page.Locator($"#webhooks tr[data-key='{id}'] .menu-button").ClickAsync();
        await _page.GetByRole(AriaRole.Menuitem, new() { Name = "Delete" }).ClickAsync();
        await Assertions.Expect(_page.Locator("#confirm-text")).ToContainTextAsync("hooks/ok");
        await _page.Locator("#confirm-ok").ClickAsync();
        await Assertions.Expect(_page.Locator($"#webhooks tr[data-key='{id}']")).ToHaveCountAsync(0);
        using var gone = await _gateway.Admin.GetAsync($"admin/webhooks/{id}");
        Assert.That(gone.StatusCode, Is.EqualTo(HttpStatusCode.NotFound));
    }

    [Test]
    public async Task Console_Viewer_SeesLogsAndWebhooksWithoutButtons()
    {
        await _gateway.CreateOrgAsync("peek");
        var hook = await _gateway.AdminPostAsync("admin/orgs/peek/webhooks", new { url = _upstream.Url + "hooks/peek", events = new[] { "key.created" } }, expected: 201);
        var token = await CreateOperatorTokenAsync("dave", "viewer", "peek");
        await ConnectAsync(token);

        await OpenAsync("#/orgs/peek/webhooks");
        await Assertions.Expect(_page.Locator($"#webhooks tr[data-key='{hook["id"]}']")).ToBeVisibleAsync();
        Assert.That(await _page.Locator("#new-webhook").CountAsync(), Is.Zero);
        Assert.That(await _page.Locator("#webhooks .menu-button").CountAsync(), Is.Zero);
        await OpenAsync("#/orgs/peek/customers");
        await Assertions.Expect(_page.Locator("#customers-empty")).ToBeVisibleAsync();
        Assert.That(await _page.Locator("#new-customer").CountAsync(), Is.Zero);
        await OpenAsync("#/orgs/peek/logs");
        await Assertions.Expect(_page.Locator("#logs-empty")).ToBeVisibleAsync();
        Assert.That(await _page.Locator("#nav a[href='#/requests'], nav a[href='#/requests']").CountAsync(), Is.Zero, "an org-scoped viewer has no gateway-wide log");
    }

    [Test]
    public async Task Console_Customers_CreateWithQuotaShowsConsumptionDeleteConflictAndKeyCredits()
    {
        await _gateway.CreateOrgAsync("shop");
        await ConnectAsync();
        await OpenAsync("#/orgs/shop/customers");
        await Assertions.Expect(_page.Locator("#customers-empty")).ToBeVisibleAsync();

        await _page.Locator("#new-customer").ClickAsync();
        await _page.Locator("#customer-form input[name=id]").FillAsync("bigco");
        await _page.Locator("#customer-form input[name=name]").FillAsync("BigCo");
        await _page.Locator("#customer-form input[name=plan]").FillAsync("nope");
        await _page.Locator("#customer-form-submit").ClickAsync();
        await Assertions.Expect(_page.Locator("#customer-form [data-field=plan] .field-error")).ToBeVisibleAsync();
        await _page.Locator("#customer-form input[name=plan]").FillAsync("free");
        await _page.Locator("#customer-form input[name=quotaLimit]").FillAsync("10");
        await _page.Locator("#customer-form select[name=period]").SelectOptionAsync("day");
        await _page.Locator("#customer-form-submit").ClickAsync();
        var row = _page.Locator("#customers tr[data-key='bigco']");
        await Assertions.Expect(row).ToContainTextAsync("BigCo");
        await Assertions.Expect(row).ToContainTextAsync("10 / day");
        var stored = await _gateway.AdminGetAsync("admin/orgs/shop/customers/bigco");
        Assert.That(stored["plan"]!.GetValue<string>(), Is.EqualTo("free"));
        Assert.That(stored["quota"]!["limit"]!.GetValue<long>(), Is.EqualTo(10));

        var key = await _gateway.CreateKeyAsync("shop", new { name = "paying", customerId = "bigco", credits = new { remaining = 100 } });
        for (var i = 0; i < 3; i++)
        {
            Assert.That(await _gateway.StatusAsync(key["key"]!.GetValue<string>()), Is.EqualTo(HttpStatusCode.OK));
        }

        await row.Locator("a").ClickAsync();
        await _page.WaitForFunctionAsync("h => document.getElementById('view').dataset.route === h", "#/orgs/shop/customers/bigco");
        await Assertions.Expect(_page.Locator("#customer-quota")).ToContainTextAsync("3 of 10");
        await Assertions.Expect(_page.Locator("#customer-quota")).ToContainTextAsync("7");
        await Assertions.Expect(_page.Locator("#customer-chart svg")).ToBeVisibleAsync();
        await _page.SetViewportSizeAsync(1280, 800);
        await Screenshot("console-customer.png");

        await _page.Locator("#customer-actions [data-action=delete]").ClickAsync();
        await _page.Locator("#confirm-ok").ClickAsync();
        await Assertions.Expect(_page.Locator("#toasts")).ToContainTextAsync("still has active keys");
        Assert.That((await _gateway.AdminGetAsync("admin/orgs/shop/customers/bigco"))["id"]!.GetValue<string>(), Is.EqualTo("bigco"));

        // Credits on the key page: shown, and added to through the dialog.
        await OpenAsync($"#/orgs/shop/keys/{key["id"]}");
        await Assertions.Expect(_page.Locator("#key-settings")).ToContainTextAsync("97 remaining");
        await _page.Locator("#key-credits").ClickAsync();
        await _page.Locator("#credits-form select[name=op]").SelectOptionAsync("add");
        await _page.Locator("#credits-form input[name=amount]").FillAsync("50");
        await _page.Locator("#credits-form-submit").ClickAsync();
        await Assertions.Expect(_page.Locator("#key-settings")).ToContainTextAsync("147 remaining");
        Assert.That((await _gateway.AdminGetAsync($"admin/keys/{key["id"]}"))["credits"]!["remaining"]!.GetValue<long>(), Is.EqualTo(147));
    }
}
