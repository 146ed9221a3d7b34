using System.Net;
using System.Text.RegularExpressions;
using Gateway.Tests.Common;
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
        _gateway = await GatewayHost.StartAsync(GatewayHost.Routes(_upstream.Url, ("api", "/api/{**rest}", [])));
        _playwright = await Playwright.CreateAsync();
        _browser = await _playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
        {
            ExecutablePath = ChromiumPath,
            Headless = true,
            Args = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
        });
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
        _page.SetDefaultTimeout(10_000);
        await _page.GotoAsync(new Uri(_gateway.AdminUrl, "console/").ToString());
    }

    [TearDown]
    public async Task ClosePageAsync() => await _page.Context.CloseAsync();

    private static string ChromiumPath => Environment.GetEnvironmentVariable("CHROMIUM_PATH") ?? "/usr/bin/chromium";

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
        await _page.Locator("#orgs button[data-org=beta]").ClickAsync();

        await _page.GetByRole(AriaRole.Button, new() { Name = "Create API key" }).ClickAsync();
        await _page.Locator("#key-form input[name=name]").FillAsync("ci_pipeline");
        await _page.Locator("#scopes input[value='*']").UncheckAsync();
        await _page.Locator("#scopes input[value=read]").CheckAsync();
        await _page.Locator("#key-form input[name=description]").FillAsync("GitHub Actions");
        await _page.Locator("#key-form-submit").ClickAsync();
        var key = await RevealAsync();

        var row = _page.Locator("#keys tbody tr", new() { HasText = "ci_pipeline" });
        await Assertions.Expect(row).ToContainTextAsync(key[..14]);
        await Assertions.Expect(row.Locator(".status")).ToHaveTextAsync("active");
        await Assertions.Expect(row).ToContainTextAsync("read");
        using (var ok = await _gateway.CallAsync("/api/x", key))
        {
            Assert.That(ok.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        }

        await row.GetByRole(AriaRole.Button, new() { Name = "Revoke" }).ClickAsync();
        await Assertions.Expect(_page.Locator("#confirm-text")).ToContainTextAsync("revoke");
        await _page.Locator("#confirm-ok").ClickAsync();

        await Assertions.Expect(row.Locator(".status")).ToHaveTextAsync("revoked");
        using var refused = await _gateway.CallAsync("/api/x", key);
        Assert.That((await GatewayHost.ProblemAsync(refused))["code"]!.GetValue<string>(), Is.EqualTo("key_revoked"));
    }

    [Test]
    public async Task Console_InvalidKeyName_ShowsServerValidationError()
    {
        await _gateway.CreateOrgAsync("gamma");
        await ConnectAsync();
        await _page.Locator("#orgs button[data-org=gamma]").ClickAsync();
        await _page.GetByRole(AriaRole.Button, new() { Name = "Create API key" }).ClickAsync();
        await _page.Locator("#key-form input[name=name]").FillAsync("default");

        await _page.Locator("#key-form-submit").ClickAsync();

        await Assertions.Expect(_page.Locator("#key-form .form-error")).ToContainTextAsync("exists");
        await Assertions.Expect(_page.Locator("#reveal-dialog")).Not.ToBeVisibleAsync();
    }

    [Test]
    public async Task Console_WrongToken_ShowsErrorAndNoData()
    {
        await _page.Locator("#token").FillAsync("not-the-token-000000");
        await _page.GetByRole(AriaRole.Button, new() { Name = "Connect" }).ClickAsync();

        await Assertions.Expect(_page.Locator("#error")).ToContainTextAsync("not accepted");
        await Assertions.Expect(_page.Locator("#app")).ToBeHiddenAsync();
    }

    [Test]
    public async Task Console_MarkupInOrgName_IsRenderedAsText()
    {
        await _gateway.Admin.PostAsync("admin/orgs", System.Net.Http.Json.JsonContent.Create(new { id = "xss", name = "<img src=x onerror=\"window.pwned=1\">" }));
        await ConnectAsync();

        await Assertions.Expect(_page.Locator("#orgs")).ToContainTextAsync("<img src=x");
        Assert.That(await _page.EvaluateAsync<bool>("() => window.pwned === undefined"), Is.True);
        Assert.That(await _page.Locator("#orgs img").CountAsync(), Is.Zero);
    }

    [Test]
    public async Task Console_OnProxyListener_IsNotServed()
    {
        using var response = await _gateway.Proxy.GetAsync("/console/");

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.NotFound));
    }

    private async Task ConnectAsync()
    {
        await _page.Locator("#token").FillAsync(GatewayHost.AdminToken);
        await _page.GetByRole(AriaRole.Button, new() { Name = "Connect" }).ClickAsync();
        await Assertions.Expect(_page.Locator("#app")).ToBeVisibleAsync();
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
