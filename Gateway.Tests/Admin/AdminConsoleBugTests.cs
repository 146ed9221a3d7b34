using System.Net;
using System.Net.Http.Json;
using System.Text.RegularExpressions;
using Gateway.Tests.Common;
using Microsoft.Playwright;

namespace Gateway.Tests.Admin;

/// <summary>The console walk-through's findings, one test each (numbered as found), plus sign-in and roles.</summary>
public sealed partial class AdminConsoleTests
{
    // 1. A double click sends one request: one rotation, one created key.
    [Test]
    public async Task Console_DoubleClickOnRotateOrCreate_SendsOneRequest()
    {
        await _gateway.CreateOrgAsync("dbl");
        var created = await _gateway.CreateKeyAsync("dbl", new { name = "twice" });
        var posts = new List<string>();
        _page.Request += (_, r) => { if (r.Method == "POST") { posts.Add(new Uri(r.Url).AbsolutePath); } };
        await ConnectAsync();
        await OpenAsync("#/orgs/dbl/keys");

        await RowActionAsync("twice", "Rotate");
        await _page.Locator("#rotate-submit").DblClickAsync();
        var rotated = await RevealAsync();
        Assert.That(await _gateway.StatusAsync(rotated), Is.EqualTo(HttpStatusCode.OK), "the key shown is the one in force");

        await _page.Locator("#new-key").ClickAsync();
        await _page.Locator("#key-form input[name=name]").FillAsync("once");
        await _page.Locator("#key-form-submit").DblClickAsync();
        await RevealAsync();

        Assert.That(posts.Count(p => p.EndsWith("/rotate", StringComparison.Ordinal)), Is.EqualTo(1), string.Join(", ", posts));
        Assert.That(posts.Count(p => p == "/admin/orgs/dbl/keys"), Is.EqualTo(1), string.Join(", ", posts));
        var audit = await _gateway.AdminGetAsync($"admin/audit?org=dbl&limit=100");
        Assert.That(audit["items"]!.AsArray().Count(e => e!["action"]!.GetValue<string>() == "key.rotate" && e["keyId"]!.GetValue<string>() == created["id"]!.GetValue<string>()), Is.EqualTo(1));
    }

    // 2. Rotating an expired key is refused with the way out; an inactive key gets a warning.
    [Test]
    public async Task Console_RotateExpiredOrInactiveKey_RefusesOrWarns()
    {
        await _gateway.CreateOrgAsync("stale");
        var sleeping = await _gateway.CreateKeyAsync("stale", new { name = "sleeping" });
        await _gateway.AdminPostAsync($"admin/keys/{sleeping["id"]}/deactivate");
        var expiring = await _gateway.CreateKeyAsync("stale", new { name = "expiring", expiresAt = DateTimeOffset.UtcNow.AddSeconds(2) });
        await Eventually.HoldsAsync(async () => (await _gateway.AdminGetAsync($"admin/keys/{expiring["id"]}"))["status"]!.GetValue<string>() == "expired", TimeSpan.FromSeconds(10));
        await ConnectAsync();
        await OpenAsync("#/orgs/stale/keys");

        await RowActionAsync("expiring", "Rotate");
        await Assertions.Expect(_page.Locator("#rotate .warning")).ToContainTextAsync("expired");
        await Assertions.Expect(_page.Locator("#rotate-submit")).ToBeDisabledAsync();
        await _page.Keyboard.PressAsync("Escape");

        await RowActionAsync("sleeping", "Rotate");
        await Assertions.Expect(_page.Locator("#rotate .warning")).ToContainTextAsync("deactivated");
        await Assertions.Expect(_page.Locator("#rotate-submit")).ToBeEnabledAsync();
        Assert.That((await _gateway.AdminGetAsync($"admin/keys/{expiring["id"]}"))["previousKeyExpiresAt"], Is.Null, "the expired key was not rotated");
    }

    // 3. The key list fits 1280×800 and a phone: no sideways scrolling, every row's actions on screen, long text wraps.
    [TestCase(1280, 800, "console-desktop.png")]
    [TestCase(390, 844, "console-phone.png")]
    public async Task Console_KeyList_FitsTheScreenWithActionsInReach(int width, int height, string screenshot)
    {
        var org = "wide" + width;
        await _gateway.CreateOrgAsync(org);
        await _gateway.CreateKeyAsync(org, new { name = "a_key_with_a_rather_long_name_to_wrap_around", description = new string('w', 1000), customerId = "customer:with.a-long@identifier_0123456789", scopes = new[] { "read", "write" } });
        await _gateway.CreateKeyAsync(org, new { name = "short", environment = "staging", rateLimit = new { permitLimit = 100, window = "00:01:00" } });
        await _page.SetViewportSizeAsync(width, height);
        await ConnectAsync();
        await OpenAsync($"#/orgs/{org}/keys");
        await Assertions.Expect(_page.Locator("#keys tbody tr")).ToHaveCountAsync(3);

        var overflow = await _page.EvaluateAsync<int>("() => document.documentElement.scrollWidth - window.innerWidth");
        Assert.That(overflow, Is.LessThanOrEqualTo(0), "the page never scrolls sideways");
        var table = await _page.EvaluateAsync<int[]>("() => { const t = document.getElementById('keys'); return [t.scrollWidth, t.parentElement.clientWidth]; }");
        Assert.That(table[0], Is.LessThanOrEqualTo(table[1]), "the table fits its box");
        foreach (var button in await _page.Locator("#keys .menu-button").AllAsync())
        {
            var box = (await button.BoundingBoxAsync())!;
            Assert.That(box.X + box.Width, Is.LessThanOrEqualTo(width), "each row's action menu is on screen");
        }

        Assert.That(await _page.Locator("#new-key").IsVisibleAsync(), Is.True);
        await Screenshot(screenshot);
    }

    // 4. After a refused action the row shows the key as it is now.
    [Test]
    public async Task Console_RefusedAction_ReloadsTheRow()
    {
        await _gateway.CreateOrgAsync("fresh");
        var key = await _gateway.CreateKeyAsync("fresh", new { name = "gone_elsewhere" });
        await ConnectAsync();
        await OpenAsync("#/orgs/fresh/keys");
        await Assertions.Expect(Row("gone_elsewhere").Locator(".status")).ToHaveTextAsync("active");
        await _gateway.AdminPostAsync($"admin/keys/{key["id"]}/revoke");

        await RowActionAsync("gone_elsewhere", "Deactivate");

        await Assertions.Expect(_page.Locator(".toast-error")).ToBeVisibleAsync();
        await Assertions.Expect(Row("gone_elsewhere").Locator(".status")).ToHaveTextAsync("revoked");
    }

    // 5. Focus returns to the row's menu after an action; tabs follow the arrow keys.
    [Test]
    public async Task Console_FocusStaysAfterRowActionsAndTabsTakeArrowKeys()
    {
        await _gateway.CreateOrgAsync("focus");
        var key = await _gateway.CreateKeyAsync("focus", new { name = "focused" });
        await ConnectAsync();
        await OpenAsync("#/orgs/focus/keys");

        await RowActionAsync("focused", "Deactivate");
        await Assertions.Expect(Row("focused").Locator(".status")).ToHaveTextAsync("inactive");
        await _page.WaitForFunctionAsync("id => document.activeElement && document.activeElement.closest('tr') && document.activeElement.closest('tr').dataset.key === id", key["id"]!.GetValue<string>());
        Assert.That(await _page.EvaluateAsync<string>("() => document.activeElement.className"), Does.Contain("menu-button"));

        await _page.Locator("#tab-keys").FocusAsync();
        await _page.Keyboard.PressAsync("ArrowRight");
        await _page.WaitForFunctionAsync("() => location.hash === '#/orgs/focus/audit' && document.activeElement && document.activeElement.id === 'tab-audit'");
        await _page.Keyboard.PressAsync("Home");
        await _page.WaitForFunctionAsync("() => location.hash === '#/orgs/focus/overview' && document.activeElement && document.activeElement.id === 'tab-overview'");
    }

    // 6. Every pattern compiles the way Chrome compiles pattern attributes (the v flag).
    [Test]
    public async Task Console_FieldPatterns_AreValidInChrome()
    {
        await _gateway.CreateOrgAsync("pat");
        await ConnectAsync();
        await OpenAsync("#/orgs/pat/keys");
        await _page.Locator("#new-key").ClickAsync();

        var invalid = await _page.EvaluateAsync<string[]>("() => [...document.querySelectorAll('input[pattern]')].map(i => i.pattern).filter(p => { try { new RegExp('^(?:' + p + ')$', 'v'); return false; } catch { return true; } })");
        Assert.That(invalid, Is.Empty);
        Assert.That(await _page.Locator("#key-form input[pattern]").CountAsync(), Is.GreaterThanOrEqualTo(2));
        await _page.Locator("#key-form input[name=customerId]").FillAsync("not valid!");
        Assert.That(await _page.Locator("#key-form input[name=customerId]").EvaluateAsync<bool>("i => i.validity.patternMismatch"), Is.True, "the browser applies the rule");
        await _page.Locator("#key-form input[name=customerId]").FillAsync("cust-1:a@b.c");
        Assert.That(await _page.Locator("#key-form input[name=customerId]").EvaluateAsync<bool>("i => i.validity.valid"), Is.True);
    }

    // 7. Every server error next to its field, in plain words.
    [Test]
    public async Task Console_ServerErrors_ShowNextToEachFieldInPlainWords()
    {
        await _gateway.CreateOrgAsync("errs");
        await ConnectAsync();
        await OpenAsync("#/orgs/errs/keys");
        await _page.Locator("#new-key").ClickAsync();
        // The server's rules are the ones that count: drop the browser's copy of the name rule to reach them.
        await _page.Locator("#key-form input[name=name]").EvaluateAsync("i => i.removeAttribute('pattern')");
        await _page.Locator("#key-form input[name=name]").FillAsync("not a name!");
        await _page.Locator("#key-form input[name=allowedCidrs]").FillAsync("10.0.0.0/8 300.1.2.3/8");

        await _page.Locator("#key-form-submit").ClickAsync();

        await Assertions.Expect(_page.Locator("#key-form [data-field=name] .field-error")).ToHaveTextAsync("Use 1 to 64 letters, digits or underscores.");
        await Assertions.Expect(_page.Locator("#key-form [data-field=allowedCidrs] .field-error")).ToContainTextAsync("Entry 2:");
        var text = await _page.Locator("#key-form").InnerTextAsync();
        Assert.That(text, Does.Not.Contain("allowedCidrs[").And.Not.Contain("^["), "no field paths or patterns");
        Assert.That(await _page.EvaluateAsync<string>("() => document.activeElement.name"), Is.EqualTo("name"), "focus on the first field in error");
    }

    // 8. Limit and networks in both dialogs; past expiry and a window without requests are refused before sending.
    [Test]
    public async Task Console_LimitAndNetworksInBothDialogs_PastExpiryAndLoneWindowRefused()
    {
        await _gateway.CreateOrgAsync("both");
        var sent = 0;
        _page.Request += (_, r) => { if (r.Method is "POST" or "PATCH" && r.Url.Contains("/keys", StringComparison.Ordinal)) { sent++; } };
        await ConnectAsync();
        await OpenAsync("#/orgs/both/keys");

        await _page.Locator("#new-key").ClickAsync();
        var form = _page.Locator("#key-form");
        await form.Locator("input[name=name]").FillAsync("limited");
        await form.Locator("select[name=window]").SelectOptionAsync("00:01:00");
        await _page.Locator("#key-form-submit").ClickAsync();
        await Assertions.Expect(form.Locator("[data-field=permitLimit] .field-error")).ToContainTextAsync("how many requests");
        await form.Locator("input[name=permitLimit]").FillAsync("5");
        await form.Locator("input[name=expiresAt]").FillAsync(DateTime.Now.AddDays(-1).ToString("yyyy-MM-ddTHH:mm", System.Globalization.CultureInfo.InvariantCulture));
        await _page.Locator("#key-form-submit").ClickAsync();
        Assert.That(await form.Locator("input[name=expiresAt]").EvaluateAsync<bool>("i => !i.validity.valid"), Is.True, "a past expiry is refused");
        await Assertions.Expect(form).ToBeVisibleAsync();
        Assert.That(sent, Is.Zero, "nothing was sent while the form was wrong");
        await form.Locator("input[name=expiresAt]").FillAsync("");
        await form.Locator("input[name=allowedCidrs]").FillAsync("203.0.113.0/24");
        await _page.Locator("#key-form-submit").ClickAsync();
        await RevealAsync();

        var id = await Row("limited").GetAttributeAsync("data-key");
        var stored = await _gateway.AdminGetAsync($"admin/keys/{id}");
        Assert.That(stored["rateLimit"]!["permitLimit"]!.GetValue<int>(), Is.EqualTo(5));
        Assert.That(stored["allowedCidrs"]!.AsArray().Select(c => c!.GetValue<string>()), Is.EqualTo(new[] { "203.0.113.0/24" }));

        await RowActionAsync("limited", "Edit");
        var edit = _page.Locator("#edit-form");
        await Assertions.Expect(edit.Locator("input[name=allowedCidrs]")).ToHaveValueAsync("203.0.113.0/24");
        await Assertions.Expect(edit.Locator("input[name=permitLimit]")).ToHaveValueAsync("5");
        await edit.Locator("input[name=allowedCidrs]").FillAsync("198.51.100.0/24");
        await _page.Locator("#edit-form-submit").ClickAsync();
        await Assertions.Expect(edit).Not.ToBeVisibleAsync();
        stored = await _gateway.AdminGetAsync($"admin/keys/{id}");
        Assert.That(stored["allowedCidrs"]!.AsArray().Select(c => c!.GetValue<string>()), Is.EqualTo(new[] { "198.51.100.0/24" }));
    }

    // 9. Copy says "Copied", and where the Clipboard API is missing it selects the key instead.
    [Test]
    public async Task Console_Copy_SaysCopiedOrSelectsTheKey()
    {
        await _page.Context.GrantPermissionsAsync(["clipboard-read", "clipboard-write"]);
        await ConnectAsync();
        await _page.Locator("#create-org input[name=id]").FillAsync("copy1");
        await _page.GetByRole(AriaRole.Button, new() { Name = "Create organization" }).ClickAsync();
        await _page.Locator("#reveal-copy").ClickAsync();
        await Assertions.Expect(_page.Locator("#reveal-status")).ToHaveTextAsync("Copied.");
        var key = await _page.Locator("#reveal-key").TextContentAsync();
        Assert.That(await _page.EvaluateAsync<string>("() => navigator.clipboard.readText()"), Is.EqualTo(key));
        await _page.Locator("#reveal-saved").CheckAsync();
        await _page.Locator("#reveal-done").ClickAsync();

        // Plain http on a host name: no navigator.clipboard at all.
        await _page.EvaluateAsync("() => Object.defineProperty(Navigator.prototype, 'clipboard', { get: () => undefined, configurable: true })");
        await _page.Locator("#create-org input[name=id]").FillAsync("copy2");
        await _page.GetByRole(AriaRole.Button, new() { Name = "Create organization" }).ClickAsync();
        await _page.Locator("#reveal-copy").ClickAsync();
        await Assertions.Expect(_page.Locator("#reveal-status")).ToContainTextAsync("Ctrl+C");
        key = await _page.Locator("#reveal-key").TextContentAsync();
        Assert.That(await _page.EvaluateAsync<string>("() => window.getSelection().toString()"), Is.EqualTo(key), "the key is selected");
    }

    // 10. Sign-out forgets the token (memory and sessionStorage) and returns to sign-in.
    [Test]
    public async Task Console_SignOut_ForgetsTheToken()
    {
        await ConnectAsync();
        Assert.That(await _page.EvaluateAsync<string?>("() => sessionStorage.getItem('gw-admin-token')"), Is.EqualTo(GatewayHost.AdminToken));

        await _page.GetByRole(AriaRole.Button, new() { Name = "Sign out" }).ClickAsync();

        await Assertions.Expect(_page.Locator("#signin")).ToBeVisibleAsync();
        await Assertions.Expect(_page.Locator("#app")).ToBeHiddenAsync();
        await Assertions.Expect(_page.Locator("#token")).ToHaveValueAsync("");
        Assert.That(await _page.EvaluateAsync<string?>("() => sessionStorage.getItem('gw-admin-token')"), Is.Null);
        Assert.That(await _page.Locator("#sidebar").InnerTextAsync(), Is.Empty, "no data left on the page");
        await _page.ReloadAsync();
        await Assertions.Expect(_page.Locator("#signin")).ToBeVisibleAsync();
    }

    // 11. Every view has an address: reload keeps it, Back returns to the list.
    [Test]
    public async Task Console_EveryViewHasAnAddress_ReloadAndBackWork()
    {
        await _gateway.CreateOrgAsync("addr");
        var key = await _gateway.CreateKeyAsync("addr", new { name = "addressed" });
        var revoked = await _gateway.CreateKeyAsync("addr", new { name = "old_one" });
        await _gateway.AdminPostAsync($"admin/keys/{revoked["id"]}/revoke");
        await ConnectAsync();
        await _page.Locator("#sidebar a[data-org=addr]").ClickAsync();
        await _page.Locator("#tab-keys").ClickAsync();
        await _page.Locator("#filter-status").SelectOptionAsync("revoked");
        await _page.WaitForFunctionAsync("() => location.hash === '#/orgs/addr/keys?status=revoked'");

        await _page.ReloadAsync();
        await Assertions.Expect(_page.Locator("#filter-status")).ToHaveValueAsync("revoked");
        await Assertions.Expect(_page.Locator("#keys tbody tr")).ToHaveCountAsync(1);
        await _page.Locator("#filter-status").SelectOptionAsync("");

        await Row("addressed").GetByRole(AriaRole.Link, new() { Name = "addressed" }).ClickAsync();
        await _page.WaitForFunctionAsync("id => location.hash === '#/orgs/addr/keys/' + id", key["id"]!.GetValue<string>());
        await Assertions.Expect(_page.Locator("#key-title .key-name")).ToHaveTextAsync("addressed");
        await _page.ReloadAsync();
        await Assertions.Expect(_page.Locator("#key-title .key-name")).ToHaveTextAsync("addressed");
        await _page.GoBackAsync();
        await Assertions.Expect(_page.Locator("#keys tbody tr")).ToHaveCountAsync(3);
        Assert.That(_page.Url, Does.Contain("/console/"), "Back stays in the console");

        await OpenAsync("#/orgs/addr/audit?action=key.revoke");
        await Assertions.Expect(_page.Locator("#audit-action")).ToHaveValueAsync("key.revoke");
        await Assertions.Expect(_page.Locator("#audit > li")).ToHaveCountAsync(1);
    }

    // 12. A key's trail is complete in a busy organization: the server filters by key.
    [Test]
    public async Task Console_KeyAuditTrail_FoundBeyondTheNewest500Entries()
    {
        await _gateway.CreateOrgAsync("busy");
        var quiet = await _gateway.CreateKeyAsync("busy", new { name = "quiet_key" });
        var chatty = await _gateway.CreateKeyAsync("busy", new { name = "chatty_key" });
        for (var i = 0; i < 520; i++)
        {
            using var patch = await _gateway.Admin.PatchAsync($"admin/keys/{chatty["id"]}", JsonContent.Create(new { description = "edit " + i }));
            Assert.That(patch.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        }

        await ConnectAsync();
        await OpenAsync($"#/orgs/busy/keys/{quiet["id"]}");
        await Assertions.Expect(_page.Locator("#key-audit > li")).ToHaveCountAsync(1);
        await Assertions.Expect(_page.Locator("#key-audit")).ToContainTextAsync("created key quiet_key");

        await OpenAsync($"#/orgs/busy/audit?key={quiet["id"]}");
        await Assertions.Expect(_page.Locator("#audit > li")).ToHaveCountAsync(1);
    }

    // 13. Gateway down: said in plain words, the last data kept and marked stale, dialogs explain.
    [Test]
    public async Task Console_GatewayUnreachable_SaysSoAndKeepsTheLastDataMarkedStale()
    {
        await _gateway.CreateOrgAsync("down");
        await _gateway.CreateKeyAsync("down", new { name = "survivor" });
        await ConnectAsync();
        await OpenAsync("#/orgs/down/keys");
        await Assertions.Expect(Row("survivor")).ToBeVisibleAsync();

        await _page.Context.RouteAsync("**/admin/**", route => route.AbortAsync("connectionrefused"));
        await _page.Locator("#new-key").ClickAsync();
        await _page.Locator("#key-form input[name=name]").FillAsync("never_made");
        await _page.Locator("#key-form-submit").ClickAsync();
        await Assertions.Expect(_page.Locator("#key-form .form-error")).ToContainTextAsync("cannot be reached");
        Assert.That(await _page.Locator("#key-form").InnerTextAsync(), Does.Not.Contain("Failed to fetch"));
        await _page.Keyboard.PressAsync("Escape");

        await _page.Locator("#tab-audit").ClickAsync();
        await Assertions.Expect(_page.Locator("#offline")).ToBeVisibleAsync();
        await Assertions.Expect(_page.Locator("#view")).ToContainTextAsync("cannot be reached");
        await _page.GoBackAsync();
        await Assertions.Expect(_page.Locator(".stale-note")).ToContainTextAsync("Showing data loaded at");
        await Assertions.Expect(Row("survivor")).ToBeVisibleAsync();

        await _page.Context.UnrouteAllAsync();
        await _page.Locator(".stale-note button").ClickAsync();
        await Assertions.Expect(_page.Locator(".stale-note")).ToHaveCountAsync(0);
        await Assertions.Expect(_page.Locator("#offline")).ToBeHiddenAsync();
    }

    // 14. Chart axis in whole steps with no cut label and "1 request"; chart colours readable; created date and createdBy in the list.
    [Test]
    public async Task Console_ChartAxisLabelsAndCreatedColumn()
    {
        await _gateway.CreateOrgAsync("axis");
        var key = await _gateway.CreateKeyAsync("axis", new { name = "counted" });
        for (var i = 0; i < 25; i++)
        {
            await _gateway.StatusAsync(key["key"]!.GetValue<string>());
        }

        await _page.SetViewportSizeAsync(390, 844);
        await ConnectAsync();
        await OpenAsync($"#/orgs/axis/keys/{key["id"]}?range=minute");
        var chart = _page.Locator("#key-chart svg");
        await Assertions.Expect(chart).ToBeVisibleAsync();
        var ticks = await chart.Locator(".y-tick").AllTextContentsAsync();
        var values = ticks.Select(t => int.Parse(t, System.Globalization.NumberStyles.AllowThousands, System.Globalization.CultureInfo.InvariantCulture)).ToList();
        Assert.That(values.Zip(values.Skip(1), (a, b) => b - a).Distinct().Count(), Is.EqualTo(1), "evenly spaced whole numbers: " + string.Join(",", ticks));
        Assert.That(ticks, Does.Not.Contain("13"));
        var fits = await chart.EvaluateAsync<bool>("s => { const r = s.getBoundingClientRect(); return [...s.querySelectorAll('.x-tick')].every(t => { const b = t.getBoundingClientRect(); return b.left >= r.left - 0.5 && b.right <= r.right + 0.5; }); }");
        Assert.That(fits, Is.True, "no time label is cut off");
        var fontPx = await chart.Locator(".x-tick").First.EvaluateAsync<double>("t => t.getBoundingClientRect().height");
        Assert.That(fontPx, Is.GreaterThanOrEqualTo(10), "labels stay readable on a phone");
        var titles = await chart.Locator("title").AllTextContentsAsync();
        Assert.That(titles, Has.None.Match(@"\b1 requests\b"));

        // Non-text contrast of every chart colour against the white page, at least 3:1.
        var worst = await _page.EvaluateAsync<double>(@"() => {
            const lum = c => { const [r, g, b] = c.match(/\d+/g).slice(0, 3).map(v => { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); }); return 0.2126 * r + 0.7152 * g + 0.0722 * b; };
            const names = ['allowed','missing_key','invalid_key','key_expired','key_revoked','key_inactive','wrong_environment','insufficient_scope','ip_not_allowed','rate_limited','quota_exceeded','credits_exhausted','store_unavailable','body_too_large','bad_request','client_aborted','upstream_5xx'];
            return Math.min(...names.map(n => { const s = document.createElement('span'); s.className = 'swatch o-' + n; document.body.append(s); const c = getComputedStyle(s).backgroundColor; s.remove(); return 1.05 / (lum(c) + 0.05); }));
        }");
        Assert.That(worst, Is.GreaterThanOrEqualTo(3.0));

        await _page.SetViewportSizeAsync(1280, 800);
        await OpenAsync("#/orgs/axis/keys");
        var created = Row("counted").Locator("td[data-label=Created]");
        await Assertions.Expect(created.Locator("time")).ToHaveTextAsync(new Regex(@"\d{4}"));
    }

    // createdBy and the audit name the person signed in, not "console".
    [Test]
    public async Task Console_KeysCreatedInTheConsole_NameWhoSignedIn()
    {
        await _gateway.CreateOrgAsync("who");
        var token = await CreateOperatorTokenAsync("alice@example.com", "admin", "who");
        await ConnectAsync(token);
        await _page.Locator("#new-key").ClickAsync();
        await _page.Locator("#key-form input[name=name]").FillAsync("alices_key");
        await _page.Locator("#key-form-submit").ClickAsync();
        await RevealAsync();
        await Assertions.Expect(Row("alices_key")).ToContainTextAsync("by alice@example.com");

        var id = await Row("alices_key").GetAttributeAsync("data-key");
        Assert.That((await _gateway.AdminGetAsync($"admin/keys/{id}"))["createdBy"]!.GetValue<string>(), Is.EqualTo("alice@example.com"));
        var audit = await _gateway.AdminGetAsync("admin/audit?org=who&limit=5");
        Assert.That(audit["items"]![0]!["actor"]!.GetValue<string>(), Is.EqualTo("alice@example.com"));

        await _page.GetByRole(AriaRole.Button, new() { Name = "Sign out" }).ClickAsync();
        await ConnectAsync();
        await OpenAsync("#/orgs/who/keys");
        await _page.Locator("#new-key").ClickAsync();
        await _page.Locator("#key-form input[name=name]").FillAsync("bootstrap_key");
        await _page.Locator("#key-form-submit").ClickAsync();
        await RevealAsync();
        await Assertions.Expect(Row("bootstrap_key")).ToContainTextAsync("by admin");
    }

    // Issue 26 item 5: an organization's admin lands on its API keys and sees no other organization.
    [Test]
    public async Task Console_OrgAdmin_LandsOnItsKeysAndSeesNoOtherOrg()
    {
        await _gateway.CreateOrgAsync("mine");
        await _gateway.CreateOrgAsync("theirs");
        await _gateway.CreateKeyAsync("mine", new { name = "my_key" });
        var token = await CreateOperatorTokenAsync("bob", "admin", "mine");

        await ConnectAsync(token);

        await _page.WaitForFunctionAsync("() => location.hash === '#/orgs/mine/keys'");
        await Assertions.Expect(Row("my_key")).ToBeVisibleAsync();
        Assert.That(await _page.Locator("#sidebar").InnerTextAsync(), Does.Not.Contain("theirs"));
        Assert.That(await _page.Locator("#create-org").CountAsync(), Is.Zero, "an org admin cannot create organizations");
        Assert.That(await _page.GetByRole(AriaRole.Link, new() { Name = "Operator tokens" }).CountAsync(), Is.Zero, "admins do not manage tokens");
        await Assertions.Expect(_page.Locator("#who-text")).ToContainTextAsync("bob · admin · mine");

        await OpenAsync("#/orgs/theirs/keys");
        await Assertions.Expect(_page.Locator("#view h2")).ToHaveTextAsync("Not found");
    }

    // A viewer sees no button that would fail.
    [Test]
    public async Task Console_Viewer_SeesNoButtonsThatWouldFail()
    {
        await _gateway.CreateOrgAsync("look");
        var key = await _gateway.CreateKeyAsync("look", new { name = "looked_at" });
        var token = await CreateOperatorTokenAsync("carol", "viewer", "look");

        await ConnectAsync(token);
        await Assertions.Expect(Row("looked_at")).ToBeVisibleAsync();

        Assert.That(await _page.Locator("#new-key").CountAsync(), Is.Zero);
        Assert.That(await _page.Locator("#keys .menu-button").CountAsync(), Is.Zero);
        await OpenAsync($"#/orgs/look/keys/{key["id"]}");
        Assert.That(await _page.Locator("#key-actions button").CountAsync(), Is.Zero);
        await Assertions.Expect(_page.Locator("#key-settings")).ToContainTextAsync(key["id"]!.GetValue<string>());
    }

    // A verifier is told it has no console access.
    [Test]
    public async Task Console_Verifier_IsToldItHasNoConsoleAccess()
    {
        var token = await CreateOperatorTokenAsync("verify-bot", "verifier", null);

        await _page.Locator("#token").FillAsync(token);
        await _page.GetByRole(AriaRole.Button, new() { Name = "Sign in" }).ClickAsync();

        await Assertions.Expect(_page.Locator("#no-access")).ToContainTextAsync("cannot open the console");
        await Assertions.Expect(_page.Locator("#app")).ToBeHiddenAsync();
        await _page.GetByRole(AriaRole.Button, new() { Name = "Sign out" }).ClickAsync();
        await Assertions.Expect(_page.Locator("#signin")).ToBeVisibleAsync();
    }

    // The bootstrap owner manages operator tokens: create (shown once), list, revoke.
    [Test]
    public async Task Console_Owner_CreatesListsAndRevokesOperatorTokens()
    {
        await _gateway.CreateOrgAsync("tok");
        await ConnectAsync();
        await _page.GetByRole(AriaRole.Link, new() { Name = "Operator tokens" }).ClickAsync();
        await _page.Locator("#new-token").ClickAsync();
        await _page.Locator("#token-form input[name=name]").FillAsync("dave@example.com");
        await _page.Locator("#token-form select[name=role]").SelectOptionAsync("admin");
        await _page.Locator("#token-form select[name=org]").SelectOptionAsync("tok");
        await _page.Locator("#token-form-submit").ClickAsync();
        var token = await RevealAsync();
        Assert.That(token, Does.StartWith("gwa_"));

        var row = _page.Locator("#tokens tbody tr", new() { HasText = "dave@example.com" });
        await Assertions.Expect(row).ToContainTextAsync("admin");
        await Assertions.Expect(row).ToContainTextAsync("tok");
        await Screenshot("console-tokens.png");
        using (var works = new HttpRequestMessage(HttpMethod.Get, new Uri(_gateway.AdminUrl, "admin/me")))
        {
            works.Headers.Authorization = new("Bearer", token);
            using var answer = await new HttpClient().SendAsync(works);
            Assert.That(answer.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        }

        await row.GetByRole(AriaRole.Button, new() { Name = "Revoke dave@example.com" }).ClickAsync();
        await _page.Locator("#confirm-ok").ClickAsync();
        await Assertions.Expect(row.Locator(".status")).ToHaveTextAsync("revoked");
        await Eventually.HoldsAsync(async () =>
        {
            using var refused = new HttpRequestMessage(HttpMethod.Get, new Uri(_gateway.AdminUrl, "admin/me"));
            refused.Headers.Authorization = new("Bearer", token);
            using var answer = await new HttpClient().SendAsync(refused);
            return answer.StatusCode == HttpStatusCode.Unauthorized;
        }, TimeSpan.FromSeconds(5));
    }

    // SSO: offered when the gateway says so; a cookie session sends the CSRF header on writes and signs out on the server.
    [Test]
    public async Task Console_Sso_LinkWhenOfferedAndCookieSessionSendsCsrf()
    {
        var signedOut = false;
        string? csrf = null;
        string? authorization = "unset";
        await _page.Context.RouteAsync("**/admin/auth/providers", r => r.FulfillAsync(new() { Status = 200, ContentType = "application/json", Body = "{\"oidc\":true}" }));
        await _page.Context.RouteAsync("**/admin/me", r => r.FulfillAsync(new() { Status = 200, ContentType = "application/json", Body = "{\"name\":\"Erin <erin@example.com>\",\"role\":\"owner\",\"org\":null,\"via\":\"oidc\",\"tokenId\":null,\"csrf\":\"csrf-123\"}" }));
        await _page.Context.RouteAsync("**/admin/settings", r => r.FulfillAsync(new() { Status = 200, ContentType = "application/json", Body = "{\"environment\":\"production\",\"keyPrefix\":\"gw\",\"scopes\":[\"read\",\"write\"]}" }));
        await _page.Context.RouteAsync("**/admin/orgs", async r =>
        {
            if (r.Request.Method == "POST")
            {
                csrf = r.Request.Headers.TryGetValue("x-gateway-csrf", out var c) ? c : null;
                authorization = r.Request.Headers.TryGetValue("authorization", out var a) ? a : null;
                await r.FulfillAsync(new() { Status = 409, ContentType = "application/problem+json", Body = "{\"status\":409,\"code\":\"conflict\",\"detail\":\"Organization 'x' already exists.\",\"field\":\"id\"}" });
                return;
            }

            await r.FulfillAsync(new() { Status = 200, ContentType = "application/json", Body = "{\"items\":[]}" });
        });
        await _page.Context.RouteAsync("**/admin/auth/signout", async r => { signedOut = r.Request.Method == "POST"; await r.FulfillAsync(new() { Status = 204 }); });

        await _page.ReloadAsync();

        await Assertions.Expect(_page.Locator("#who-text")).ToContainTextAsync("Erin <erin@example.com> · owner");
        await _page.Locator("#create-org input[name=id]").FillAsync("x");
        await _page.GetByRole(AriaRole.Button, new() { Name = "Create organization" }).ClickAsync();
        await Assertions.Expect(_page.Locator("#create-org [data-field=id] .field-error")).ToContainTextAsync("already exists");
        Assert.That(csrf, Is.EqualTo("csrf-123"));
        Assert.That(authorization, Is.Null, "a cookie session sends no token");

        await _page.GetByRole(AriaRole.Button, new() { Name = "Sign out" }).ClickAsync();
        await Assertions.Expect(_page.Locator("#signin")).ToBeVisibleAsync();
        Assert.That(signedOut, Is.True);
        var sso = _page.GetByRole(AriaRole.Link, new() { Name = "Sign in with SSO" });
        await Assertions.Expect(sso).ToBeVisibleAsync();
        Assert.That(await sso.GetAttributeAsync("href"), Does.StartWith("/admin/auth/oidc/login?returnUrl=%2Fconsole%2F"));
    }

    [Test]
    public async Task Console_Sso_NotOfferedWhenTheGatewayHasNone()
    {
        await Assertions.Expect(_page.Locator("#signin")).ToBeVisibleAsync();
        Assert.That(await _page.GetByRole(AriaRole.Link, new() { Name = "Sign in with SSO" }).IsVisibleAsync(), Is.False);
        await Screenshot("console-signin.png");
    }

    private async Task<string> CreateOperatorTokenAsync(string name, string role, string? org)
    {
        var created = await _gateway.AdminPostAsync("admin/tokens", org is null ? new { name, role } : new { name, role, org }, expected: 201);
        return created["token"]!.GetValue<string>();
    }
}
