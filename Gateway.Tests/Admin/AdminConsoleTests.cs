using System.Net;
using System.Text.RegularExpressions;
using Gateway.Tests.Common;
using Gateway.Usage;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Playwright;

namespace Gateway.Tests.Admin;

/// <summary>The admin console in a real headless Chromium (Debian's /usr/bin/chromium) against a real gateway.</summary>
[NonParallelizable]
public sealed partial class AdminConsoleTests
{
    private Upstream _upstream = null!;
    private GatewayHost _gateway = null!;
    private IPlaywright _playwright = null!;
    private IBrowser _browser = null!;
    private IPage _page = null!;

    [OneTimeSetUp]
    public async Task StartAsync()
    {
        _upstream = Upstream.Start();
        var settings = GatewayHost.Routes(_upstream.Url, ("api", "/api/{**rest}", []));
        // The webhook screens deliver to local receivers (the upstream, a closed port) and retry quickly.
        foreach (var (name, value) in Webhooks.WebhookDeliveryTests.FastSettings())
        {
            settings[name] = value;
        }

        settings["Gateway:Plans:free:Quota:Limit"] = "1000";
        settings["Gateway:Plans:free:Quota:Period"] = "month";
        _gateway = await GatewayHost.StartAsync(settings);
        _playwright = await Playwright.CreateAsync();
        _browser = await HeadlessChromium.LaunchAsync(_playwright);
    }

    [OneTimeTearDown]
    public async Task StopAsync()
    {
        if (_browser is not null)
        {
            await _browser.DisposeAsync();
        }

        _playwright?.Dispose();
        if (_gateway is not null)
        {
            await _gateway.DisposeAsync();
        }

        _upstream?.Dispose();
    }

    [SetUp]
    public async Task OpenPageAsync()
    {
        var context = await _browser.NewContextAsync();
        _page = await context.NewPageAsync();
        // Generous: on a loaded 2-core CI machine a page action behind a store write took over 10 s once.
        // These bound waits for a condition; a passing run never spends them.
        _page.SetDefaultTimeout(30_000);
        Assertions.SetDefaultExpectTimeout(15_000);
        _page.PageError += (_, error) => TestContext.Progress.WriteLine("page error: " + error);
        if (Environment.GetEnvironmentVariable("CONSOLE_SOURCE") is { Length: > 0 } source)
        {
            // Edit-and-rerun without rebuilding: serve the console files from the working tree (never in CI).
            await context.RouteAsync("**/console/**", async route =>
            {
                var name = new Uri(route.Request.Url).AbsolutePath["/console/".Length..];
                var path = Path.Combine(source, name.Length == 0 ? "index.html" : name);
                var type = Path.GetExtension(path) switch { ".js" => "text/javascript", ".css" => "text/css", ".svg" => "image/svg+xml", _ => "text/html" };
                await route.FulfillAsync(new() { Status = 200, ContentType = type, BodyBytes = await File.ReadAllBytesAsync(path), Headers = new Dictionary<string, string> { ["Content-Security-Policy"] = "default-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'" } });
            });
        }

        await _page.GotoAsync(new Uri(_gateway.AdminUrl, "console/").ToString());
    }

    [TearDown]
    public async Task ClosePageAsync() => await _page.Context.CloseAsync();

    [Test]
    public async Task Console_CreateOrg_RevealsDefaultKeyOnceAndItWorks()
    {
        await ConnectAsync();

        await _page.Locator("#create-org input[name=id]").FillAsync("acme");
        await _page.Locator("#create-org input[name=name]").FillAsync("Acme Inc");
        await _page.GetByRole(AriaRole.Button, new() { Name = "Create organization" }).ClickAsync();

        var key = await RevealAsync();
        Assert.That(key, Does.Match("^gw_live_[A-Za-z0-9]{38}$"));
        Assert.That(await _page.Locator("#reveal-key").TextContentAsync(), Is.Empty, "the plaintext is gone from the page after Done");
        await Assertions.Expect(_page.Locator("#keys tbody tr")).ToHaveCountAsync(1);
        await Assertions.Expect(_page.Locator("#keys tbody tr").First).ToContainTextAsync("default");

        using var response = await _gateway.CallAsync("/api/x", key);
        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK));
    }

    [Test]
    public async Task Console_CreateKeyThenRevoke_KeyStopsWorking()
    {
        await _gateway.CreateOrgAsync("beta");
        await ConnectAsync();
        await OpenAsync("#/orgs/beta/keys");

        await _page.Locator("#new-key").ClickAsync();
        await _page.Locator("#key-form input[name=name]").FillAsync("ci_pipeline");
        await _page.Locator("#key-form input[name=scopes][value='*']").UncheckAsync();
        await _page.Locator("#key-form input[name=scopes][value=read]").CheckAsync();
        await _page.Locator("#key-form textarea[name=description]").FillAsync("GitHub Actions");
        await _page.Locator("#key-form-submit").ClickAsync();
        var key = await RevealAsync();

        var row = Row("ci_pipeline");
        await Assertions.Expect(row).ToContainTextAsync(key[..14]);
        await Assertions.Expect(row.Locator(".status")).ToHaveTextAsync("active");
        Assert.That(await _gateway.StatusAsync(key), Is.EqualTo(HttpStatusCode.OK));

        await RowActionAsync("ci_pipeline", "Revoke");
        await Assertions.Expect(_page.Locator("#confirm-text")).ToContainTextAsync("Revoke");
        await _page.Locator("#confirm-ok").ClickAsync();

        await Assertions.Expect(Row("ci_pipeline").Locator(".status")).ToHaveTextAsync("revoked");
        using var refused = await _gateway.CallAsync("/api/x", key);
        Assert.That((await GatewayHost.ProblemAsync(refused))["code"]!.GetValue<string>(), Is.EqualTo("key_revoked"));
    }

    [Test]
    public async Task Console_TakenKeyName_ShowsTheConflictNextToTheName()
    {
        await _gateway.CreateOrgAsync("gamma");
        await ConnectAsync();
        await OpenAsync("#/orgs/gamma/keys");
        await _page.Locator("#new-key").ClickAsync();
        await _page.Locator("#key-form input[name=name]").FillAsync("default");

        await _page.Locator("#key-form-submit").ClickAsync();

        await Assertions.Expect(_page.Locator("#key-form [data-field=name] .field-error")).ToContainTextAsync("exists");
        await Assertions.Expect(_page.Locator("#reveal-dialog")).Not.ToBeVisibleAsync();
    }

    [Test]
    public async Task Console_WrongToken_ShowsErrorAndNoData()
    {
        await _page.Locator("#token").FillAsync("not-the-token-000000");
        await _page.GetByRole(AriaRole.Button, new() { Name = "Sign in" }).ClickAsync();

        await Assertions.Expect(_page.Locator("#signin-error")).ToContainTextAsync("not accepted");
        await Assertions.Expect(_page.Locator("#app")).ToBeHiddenAsync();
    }

    [Test]
    public async Task Console_MarkupInOrgName_IsRenderedAsText()
    {
        await _gateway.Admin.PostAsync("admin/orgs", System.Net.Http.Json.JsonContent.Create(new { id = "xss", name = "<img src=x onerror=\"window.pwned=1\">" }));
        await ConnectAsync();

        await Assertions.Expect(_page.Locator("#sidebar")).ToContainTextAsync("<img src=x");
        Assert.That(await _page.EvaluateAsync<bool>("() => window.pwned === undefined"), Is.True);
        Assert.That(await _page.Locator("#sidebar img").CountAsync(), Is.Zero);
    }

    [Test]
    public async Task Console_OnProxyListener_IsNotServed()
    {
        using var response = await _gateway.Proxy.GetAsync("/console/");

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.NotFound));
    }

    [Test]
    public async Task Console_EveryFile_ServedWithTheStrictPolicyAndTheIconExists()
    {
        foreach (var file in new[] { "", "app.js", "api.js", "ui.js", "keys.js", "app.css", "favicon.svg" })
        {
            using var response = await _gateway.Admin.GetAsync("console/" + file);
            Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK), file);
            Assert.That(response.Headers.GetValues("Content-Security-Policy").Single(), Does.StartWith("default-src 'self'"), file);
        }

        var missing = new List<string>();
        // /admin/auth/providers answers 404 where single sign-on is not set up; the console reads that as "no SSO".
        _page.Response += (_, r) => { if (r.Status == 404 && !r.Url.EndsWith("/admin/auth/providers", StringComparison.Ordinal)) { missing.Add(r.Url); } };
        await _page.ReloadAsync();
        await Assertions.Expect(_page.Locator("#signin")).ToBeVisibleAsync();
        Assert.That(missing, Is.Empty, "no 404s (the favicon included)");
    }

    [Test]
    public async Task Console_RevealDialog_CannotCloseBeforeTickedAndDownloadHoldsTheKey()
    {
        await ConnectAsync();
        await _page.Locator("#create-org input[name=id]").FillAsync("dl");
        await _page.GetByRole(AriaRole.Button, new() { Name = "Create organization" }).ClickAsync();

        var dialog = _page.Locator("#reveal-dialog");
        await Assertions.Expect(dialog).ToBeVisibleAsync();
        var key = (await _page.Locator("#reveal-key").TextContentAsync())!;
        await _page.Keyboard.PressAsync("Escape");
        await Assertions.Expect(dialog).ToBeVisibleAsync();
        await Assertions.Expect(_page.Locator("#reveal-done")).ToBeDisabledAsync();
        await Screenshot("console-reveal.png");

        var download = await _page.RunAndWaitForDownloadAsync(() => _page.Locator("#reveal-download").ClickAsync());
        var text = await File.ReadAllTextAsync((await download.PathAsync())!);
        Assert.Multiple(() =>
        {
            Assert.That(download.SuggestedFilename, Is.EqualTo("dl-default-api-key.txt"));
            Assert.That(text.Split('\n')[0], Is.EqualTo(key), "the key is the file's first line");
            Assert.That(text, Does.Contain("Authorization: Bearer"));
            Assert.That(text, Does.Contain("\"dl\""), "names the organization");
        });

        await _page.Keyboard.PressAsync("Escape");
        await Assertions.Expect(dialog).ToBeVisibleAsync();
        await _page.Locator("#reveal-saved").CheckAsync();
        await _page.Locator("#reveal-done").ClickAsync();
        await Assertions.Expect(dialog).Not.ToBeVisibleAsync();
    }

    [Test]
    public async Task Console_RevealDialog_EscapeAgainAndAgain_StaysOpenUntilDone()
    {
        // Chrome's close watcher lets a repeated Escape close a modal dialog whatever its cancel handler does.
        await ConnectAsync();
        await _page.Locator("#create-org input[name=id]").FillAsync("esc");
        await _page.GetByRole(AriaRole.Button, new() { Name = "Create organization" }).ClickAsync();

        var dialog = _page.Locator("#reveal-dialog");
        await Assertions.Expect(dialog).ToBeVisibleAsync();
        var key = (await _page.Locator("#reveal-key").TextContentAsync())!;
        for (var i = 0; i < 3; i++)
        {
            await _page.Keyboard.PressAsync("Escape");
        }

        Assert.That(await dialog.EvaluateAsync<bool>("d => d.open"), Is.True, "still open after three Escapes");
        await Assertions.Expect(dialog).ToBeVisibleAsync();
        await Assertions.Expect(_page.Locator("#reveal-key")).ToHaveTextAsync(key);

        await _page.Locator("#reveal-saved").CheckAsync();
        await _page.Locator("#reveal-done").ClickAsync();
        await Assertions.Expect(dialog).Not.ToBeVisibleAsync();
        await Assertions.Expect(_page.Locator("#reveal-key")).ToHaveTextAsync("");
    }

    [Test]
    public async Task Console_Overview_ChartStackedByOutcomeAndTopKeys()
    {
        await _gateway.CreateOrgAsync("ovw");
        var busy = await _gateway.CreateKeyAsync("ovw", new { name = "checkout_service", description = "Checkout backend" });
        var old = await _gateway.CreateKeyAsync("ovw", new { name = "legacy_batch" });
        await _gateway.AdminPostAsync($"admin/keys/{old["id"]}/revoke");
        var seeded = await SeedUsageAsync(busy["id"]!.GetValue<string>(), old["id"]!.GetValue<string>(), "ovw");
        for (var i = 0; i < 3; i++)
        {
            await _gateway.StatusAsync(busy["key"]!.GetValue<string>());
        }

        await _gateway.CodeAsync(old["key"]!.GetValue<string>());

        // Usage is counted in memory and flushed in batches: the console must show the four live requests too,
        // so wait until the store has them rather than reading a total the next flush changes.
        var expected = seeded + 4;
        await Eventually.ValueAsync(
            async () => (await _gateway.AdminGetAsync("admin/orgs/ovw/usage?granularity=hour"))["totals"]!["total"]!.GetValue<long>(),
            total => total == expected,
            TimeSpan.FromSeconds(15),
            $"the usage total {expected}");

        await ConnectAsync();
        await _page.Locator("#sidebar a[data-org=ovw]").ClickAsync();

        var chart = _page.Locator("#overview-chart");
        await Assertions.Expect(chart.Locator("svg")).ToBeVisibleAsync();
        Assert.That(await chart.Locator("rect.o-allowed").CountAsync(), Is.GreaterThan(1));
        Assert.That(await chart.Locator("rect.o-key_revoked").CountAsync(), Is.GreaterThan(0));
        Assert.That(await chart.Locator("rect.o-rate_limited").CountAsync(), Is.GreaterThan(0));
        await Assertions.Expect(chart.Locator(".legend")).ToContainTextAsync("Revoked key");
        await Assertions.Expect(_page.Locator("#overview-stats")).ToContainTextAsync(expected.ToString("N0", System.Globalization.CultureInfo.GetCultureInfo("en-US")));
        var top = _page.Locator("#top-keys tbody tr");
        await Assertions.Expect(top).ToHaveCountAsync(2);
        await Assertions.Expect(top.First).ToContainTextAsync("checkout_service");
        await Assertions.Expect(top.Nth(1)).ToContainTextAsync("legacy_batch");
        await Screenshot("console-overview.png");

        await top.First.GetByRole(AriaRole.Link, new() { Name = "checkout_service" }).ClickAsync();
        await Assertions.Expect(_page.Locator("#key-settings")).ToContainTextAsync("Checkout backend");
        await Assertions.Expect(_page.Locator("#key-chart svg")).ToBeVisibleAsync();
    }

    [Test]
    public async Task Console_EmptyOrg_ShowsEmptyStates()
    {
        await _gateway.CreateOrgAsync("quiet");
        await ConnectAsync();
        await _page.Locator("#sidebar a[data-org=quiet]").ClickAsync();

        await Assertions.Expect(_page.Locator("#overview-chart")).ToContainTextAsync("No requests in this period");
        await Assertions.Expect(_page.Locator("#top-keys-empty")).ToBeVisibleAsync();
        await _page.Locator("#tab-keys").ClickAsync();
        await _page.Locator("#key-search").FillAsync("no-such-key");
        await Assertions.Expect(_page.Locator("#keys tbody tr")).ToHaveCountAsync(0);
        await Assertions.Expect(_page.Locator("#keys-empty")).ToHaveTextAsync("No keys match the search and filters.");
        await _page.Locator("#tab-audit").ClickAsync();
        await _page.Locator("#audit-action").SelectOptionAsync("key.revoke");
        await Assertions.Expect(_page.Locator("#audit-empty")).ToBeVisibleAsync();
    }

    [Test]
    public async Task Console_KeyDetail_EditThroughPatchShowsInSettingsAndReadableAudit()
    {
        await _gateway.CreateOrgAsync("edit");
        var created = await _gateway.CreateKeyAsync("edit", new { name = "reporting", scopes = new[] { "read" }, createdBy = "alice" });
        var id = created["id"]!.GetValue<string>();
        await ConnectAsync();
        await OpenAsync("#/orgs/edit/keys");
        await Assertions.Expect(Row("reporting")).ToContainTextAsync("alice");

        await Row("reporting").GetByRole(AriaRole.Link, new() { Name = "reporting" }).ClickAsync();
        await Assertions.Expect(_page.Locator("#key-title .key-name")).ToHaveTextAsync("reporting");
        await _page.Locator("#key-actions").GetByRole(AriaRole.Button, new() { Name = "Edit" }).ClickAsync();
        var form = _page.Locator("#edit-form");
        await form.Locator("textarea[name=description]").FillAsync("Nightly reports");
        await form.Locator("input[name=scopes][value=write]").CheckAsync();
        await form.Locator("input[name=permitLimit]").FillAsync("10");
        await form.Locator("select[name=window]").SelectOptionAsync("00:01:00");
        await _page.Locator("#edit-form-submit").ClickAsync();

        await Assertions.Expect(form).Not.ToBeVisibleAsync();
        await Assertions.Expect(_page.Locator("#key-settings")).ToContainTextAsync("Nightly reports");
        await Assertions.Expect(_page.Locator("#key-settings")).ToContainTextAsync("10 / minute");
        var stored = await _gateway.AdminGetAsync($"admin/keys/{id}");
        Assert.Multiple(() =>
        {
            Assert.That(stored["description"]!.GetValue<string>(), Is.EqualTo("Nightly reports"));
            Assert.That(stored["scopes"]!.AsArray().Select(s => s!.GetValue<string>()), Is.EqualTo(new[] { "read", "write" }));
            Assert.That(stored["rateLimit"]!["permitLimit"]!.GetValue<int>(), Is.EqualTo(10));
            Assert.That(stored["name"]!.GetValue<string>(), Is.EqualTo("reporting"), "unchanged fields are not sent");
        });

        var audit = _page.Locator("#key-audit");
        await Assertions.Expect(audit).ToContainTextAsync("admin edited key reporting (" + id + ")");
        await Assertions.Expect(audit).ToContainTextAsync("scopes: read → read, write");
        await Assertions.Expect(audit).ToContainTextAsync("description: — → Nightly reports");
        await Screenshot("console-key-detail.png");
    }

    [Test]
    public async Task Console_RotateWithGracePeriod_OldAndNewKeyWorkThenRevealShowsNewKey()
    {
        await _gateway.CreateOrgAsync("rot");
        var created = await _gateway.CreateKeyAsync("rot", new { name = "mobile_app" });
        var oldKey = created["key"]!.GetValue<string>();
        await ConnectAsync();
        await OpenAsync("#/orgs/rot/keys");

        await RowActionAsync("mobile_app", "Rotate");
        await _page.Locator("#rotate-grace").SelectOptionAsync("01:00:00");
        await _page.Locator("#rotate-submit").ClickAsync();
        var newKey = await RevealAsync();

        Assert.That(newKey, Is.Not.EqualTo(oldKey));
        Assert.That(await _gateway.StatusAsync(newKey), Is.EqualTo(HttpStatusCode.OK));
        Assert.That(await _gateway.StatusAsync(oldKey), Is.EqualTo(HttpStatusCode.OK), "the old key works during the grace period");
        var stored = await _gateway.AdminGetAsync($"admin/keys/{created["id"]}");
        Assert.That(stored["previousKeyExpiresAt"]!.GetValue<DateTimeOffset>(), Is.GreaterThan(DateTimeOffset.UtcNow.AddMinutes(50)));
        await Assertions.Expect(Row("mobile_app")).ToContainTextAsync(newKey[..14]);
    }

    [Test]
    public async Task Console_SearchAndFilters_NarrowTheKeyTable()
    {
        await _gateway.CreateOrgAsync("flt");
        var alpha = await _gateway.CreateKeyAsync("flt", new { name = "alpha", customerId = "cust_9", rateLimit = new { permitLimit = 100, window = "00:01:00" } });
        await _gateway.CreateKeyAsync("flt", new { name = "beta_stage", environment = "staging" });
        var gamma = await _gateway.CreateKeyAsync("flt", new { name = "gamma" });
        await _gateway.AdminPostAsync($"admin/keys/{gamma["id"]}/revoke");
        await _gateway.StatusAsync(alpha["key"]!.GetValue<string>());
        await _page.SetViewportSizeAsync(1280, 800);
        await ConnectAsync();
        await OpenAsync("#/orgs/flt/keys");
        var rows = _page.Locator("#keys tbody tr");
        await Assertions.Expect(rows).ToHaveCountAsync(4);
        await Screenshot("console-keys.png");

        var alphaRow = rows.Filter(new() { HasText = "alpha" });
        var lastUsed = alphaRow.Locator("td[data-label='Last used'] time");
        await Assertions.Expect(lastUsed).ToHaveTextAsync(new Regex("^(just now|1 min ago)$"));
        Assert.That(await lastUsed.GetAttributeAsync("title"), Does.Contain(DateTimeOffset.UtcNow.ToString("yyyy-MM-dd", System.Globalization.CultureInfo.InvariantCulture)), "exact time on hover");

        await _page.Locator("#key-search").FillAsync("cust_9");
        await Assertions.Expect(rows).ToHaveCountAsync(1);
        await Assertions.Expect(rows.First).ToContainTextAsync("alpha");
        await _page.Locator("#key-search").FillAsync("");
        await _page.Locator("#filter-status").SelectOptionAsync("revoked");
        await Assertions.Expect(rows).ToHaveCountAsync(1);
        await Assertions.Expect(rows.First).ToContainTextAsync("gamma");
        await _page.Locator("#filter-status").SelectOptionAsync("");
        await _page.Locator("#filter-env").SelectOptionAsync("staging");
        await Assertions.Expect(rows).ToHaveCountAsync(1);
        await Assertions.Expect(rows.First).ToContainTextAsync("beta_stage");

        await _page.Locator("#filter-env").SelectOptionAsync("");
        await Row("alpha").GetByRole(AriaRole.Link, new() { Name = "alpha" }).ClickAsync();
        await Assertions.Expect(_page.Locator("#key-settings")).ToContainTextAsync("cust_9");
        await Assertions.Expect(_page.Locator("#key-settings")).ToContainTextAsync("100 / minute");
    }

    [Test]
    public async Task Console_AuditLog_ReadsAsSentencesAndFilters()
    {
        await _gateway.CreateOrgAsync("aud");
        var created = await _gateway.CreateKeyAsync("aud", new { name = "worker", scopes = new[] { "read" } });
        var id = created["id"]!.GetValue<string>();
        using (var patch = await _gateway.Admin.PatchAsync($"admin/keys/{id}", System.Net.Http.Json.JsonContent.Create(new { scopes = new[] { "read", "write" } })))
        {
            Assert.That(patch.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        }

        await _gateway.AdminPostAsync($"admin/keys/{id}/deactivate");
        await ConnectAsync();
        await OpenAsync("#/orgs/aud/audit");

        var entries = _page.Locator("#audit > li");
        await Assertions.Expect(entries).ToHaveCountAsync(4);
        await Assertions.Expect(entries.First).ToContainTextAsync("deactivated key worker (" + id + ")");
        await Assertions.Expect(entries.Nth(1)).ToContainTextAsync("scopes: read → read, write");
        await Assertions.Expect(entries.Last).ToContainTextAsync("created the organization");
        Assert.That(await _page.Locator("#audit").TextContentAsync(), Does.Not.Contain("{\""), "no raw JSON");
        await Screenshot("console-audit.png");

        await _page.Locator("#audit-action").SelectOptionAsync("key.update");
        await Assertions.Expect(entries).ToHaveCountAsync(1);
        await _page.Locator("#audit-action").SelectOptionAsync("");
        await _page.Locator("#audit-key").SelectOptionAsync(id);
        await Assertions.Expect(entries).ToHaveCountAsync(3);
    }

    [Test]
    public async Task Console_Dialogs_WorkWithTheKeyboard()
    {
        await _gateway.CreateOrgAsync("kbd");
        await ConnectAsync();
        await OpenAsync("#/orgs/kbd/keys");

        await _page.Locator("#new-key").FocusAsync();
        await _page.Keyboard.PressAsync("Enter");
        await Assertions.Expect(_page.Locator("#key-form")).ToBeVisibleAsync();
        Assert.That(await _page.EvaluateAsync<bool>("() => document.getElementById('key-form').contains(document.activeElement)"), Is.True, "focus moves into the dialog");
        await _page.Keyboard.PressAsync("Escape");
        await Assertions.Expect(_page.Locator("#key-form")).Not.ToBeVisibleAsync();
        Assert.That(await _page.EvaluateAsync<string>("() => document.activeElement.id"), Is.EqualTo("new-key"), "focus returns to the opener");

        await _page.Keyboard.PressAsync("Enter");
        await _page.Keyboard.TypeAsync("typed_key");
        await _page.Keyboard.PressAsync("Enter");
        await Assertions.Expect(_page.Locator("#reveal-dialog")).ToBeVisibleAsync();
        await _page.Locator("#reveal-saved").FocusAsync();
        await _page.Keyboard.PressAsync("Space");
        await _page.Keyboard.PressAsync("Tab");
        await _page.Keyboard.PressAsync("Enter");
        await Assertions.Expect(_page.Locator("#reveal-dialog")).Not.ToBeVisibleAsync();
        await Assertions.Expect(Row("typed_key")).ToBeVisibleAsync();
    }

    private ILocator Row(string name) => _page.Locator("#keys tbody tr", new() { Has = _page.Locator(".key-link", new() { HasTextRegex = new Regex("^" + Regex.Escape(name) + "$") }) });

    /// <summary>Opens a row's action menu and picks an action.</summary>
    private async Task RowActionAsync(string name, string action)
    {
        await Row(name).Locator(".menu-button").ClickAsync();
        await _page.GetByRole(AriaRole.Menuitem, new() { Name = action }).ClickAsync();
    }

    /// <summary>Goes to a console address in the signed-in page, as a link or the address bar would.</summary>
    private async Task OpenAsync(string hash)
    {
        await _page.EvaluateAsync("h => { location.hash = h; }", hash);
        try
        {
            // Polled on a timer, not on animation frames, which a browser may hold back for a page it does not paint.
            await _page.WaitForFunctionAsync("h => document.getElementById('view').dataset.route === h", hash, new() { PollingInterval = 50 });
        }
        catch (TimeoutException)
        {
            // Say what the page showed instead, so a run that timed out tells why.
            var state = await _page.EvaluateAsync<string>(
                "() => JSON.stringify({ hash: location.hash, route: document.getElementById('view').dataset.route, view: document.getElementById('view').innerText.slice(0, 400) })");
            Assert.Fail($"The console never drew {hash}: {state}");
        }
    }

    /// <summary>A day of traffic written straight to the usage store, so the charts have a shape.</summary>
    /// <returns>How many requests the seeded records count.</returns>
    private async Task<long> SeedUsageAsync(string busyKey, string oldKey, string org)
    {
        var store = _gateway.Services.GetRequiredService<IUsageStore>();
        var hour = DateTimeOffset.UtcNow.AddTicks(-(DateTimeOffset.UtcNow.UtcTicks % TimeSpan.TicksPerHour));
        var batch = new List<UsageRecord>();
        for (var h = 1; h < 23; h++)
        {
            var counts = new long[UsageOutcomes.Count];
            counts[UsageOutcomes.AllowedIndex] = 40 + (h * 37 % 60);
            counts[UsageOutcomes.All.ToList().IndexOf("rate_limited")] = h % 5 == 0 ? 12 : 0;
            counts[UsageOutcomes.Upstream5xxIndex] = h % 7 == 0 ? 3 : 0;
            batch.Add(new UsageRecord(UsageSubjectKind.Key, busyKey, org, hour.AddHours(-h).AddMinutes(7), counts));
            if (h % 3 == 0)
            {
                var refused = new long[UsageOutcomes.Count];
                refused[UsageOutcomes.All.ToList().IndexOf("key_revoked")] = 6;
                batch.Add(new UsageRecord(UsageSubjectKind.Key, oldKey, org, hour.AddHours(-h).AddMinutes(20), refused));
            }
        }

        await store.AddAsync(batch, CancellationToken.None);
        return batch.Sum(r => r.Counts.Sum());
    }

    /// <summary>
    /// Screenshots of the main screens. With UPDATE_SCREENSHOTS=1 they replace docs/images/ (shown by
    /// docs/console.md); otherwise they go to the test's work directory, so ordinary runs leave the tree clean.
    /// </summary>
    private async Task Screenshot(string name)
    {
        var directory = Environment.GetEnvironmentVariable("UPDATE_SCREENSHOTS") == "1"
            ? Path.Combine(RepositoryRoot(), "docs", "images")
            : Path.Combine(TestContext.CurrentContext.WorkDirectory, "screenshots");
        Directory.CreateDirectory(directory);
        await _page.ScreenshotAsync(new() { Path = Path.Combine(directory, name), FullPage = true });
    }

    private static string RepositoryRoot()
    {
        var directory = new DirectoryInfo(TestContext.CurrentContext.TestDirectory);
        while (directory is not null && !File.Exists(Path.Combine(directory.FullName, "Gateway.sln")))
        {
            directory = directory.Parent;
        }

        return directory?.FullName ?? throw new InvalidOperationException("Gateway.sln not found above the test directory.");
    }

    private async Task ConnectAsync(string? token = null)
    {
        await _page.Locator("#token").FillAsync(token ?? GatewayHost.AdminToken);
        await _page.GetByRole(AriaRole.Button, new() { Name = "Sign in" }).ClickAsync();
        await Assertions.Expect(_page.Locator("#app")).ToBeVisibleAsync();
        // Signed in means the first view is drawn: an organization's operator is sent to its keys by a render that
        // can finish after #app shows, and a CI run saw it land over a route the test had already opened.
        await _page.WaitForFunctionAsync("() => !!document.getElementById('view').dataset.route", null, new() { PollingInterval = 50 });
    }

    /// <summary>Reads the key from the reveal dialog, proving Done stays disabled until the checkbox is ticked.</summary>
    private async Task<string> RevealAsync()
    {
        var dialog = _page.Locator("#reveal-dialog");
        await Assertions.Expect(dialog).ToBeVisibleAsync();
        var key = (await _page.Locator("#reveal-key").TextContentAsync())!;
        await Assertions.Expect(_page.Locator("#reveal-done")).ToBeDisabledAsync();
        await _page.Keyboard.PressAsync("Escape");
        await Assertions.Expect(dialog).ToBeVisibleAsync();
        await _page.Locator("#reveal-saved").CheckAsync();
        await _page.Locator("#reveal-done").ClickAsync();
        await Assertions.Expect(dialog).Not.ToBeVisibleAsync();
        return key;
    }
}
