using System.Net;
using System.Text.Json.Nodes;
using Gateway.Tests.Common;
using Microsoft.Playwright;

namespace Gateway.Tests.AdminSessions;

/// <summary>
/// The console's OpenID Connect sign-in end to end: headless Chromium follows the real redirects to a provider served
/// by the test (<see cref="TestIdentityProvider"/>) and back, then calls the admin API with the session cookie as the
/// console does (same-origin fetch).
/// </summary>
[NonParallelizable]
public sealed class AdminOidcSignInTests
{
    private TestIdentityProvider _idp = null!;
    private GatewayHost _gateway = null!;
    private IPlaywright _playwright = null!;
    private IBrowser _browser = null!;

    [OneTimeSetUp]
    public async Task StartAsync()
    {
        _idp = await TestIdentityProvider.StartAsync();
        _gateway = await GatewayHost.StartAsync(Settings(_idp));
        await _gateway.CreateOrgAsync("acme");
        await _gateway.CreateOrgAsync("globex");
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

        if (_idp is not null)
        {
            await _idp.DisposeAsync();
        }
    }

    [SetUp]
    public void ResetProvider()
    {
        _idp.Claims.Clear();
        _idp.Claims["name"] = "Ada Lovelace";
        _idp.Claims["email"] = "ada@example.com";
        _idp.Claims["gateway_role"] = "admin";
        _idp.Claims["gateway_org"] = "acme";
        _idp.Audience = null;
        _idp.Lifetime = TimeSpan.FromMinutes(5);
        _idp.SignWithOtherKey = false;
        _idp.SendUnsignedToken = false;
        _idp.SignWithClientSecret = false;
        _idp.Subject = "user-ada";
    }

    internal static Dictionary<string, string?> Settings(TestIdentityProvider idp) => new()
    {
        ["Gateway:Admin:Oidc:Authority"] = idp.Authority,
        ["Gateway:Admin:Oidc:ClientId"] = TestIdentityProvider.ClientId,
        ["Gateway:Admin:Oidc:ClientSecret"] = TestIdentityProvider.ClientSecret,
        ["Gateway:Admin:Oidc:RequireHttpsMetadata"] = "false",
    };

    [Test]
    public async Task SignIn_OrgAdmin_ManagesOwnOrgOnlyWithCsrfAndIsAuditedByName()
    {
        var page = await SignInAsync(_browser, _gateway);
        Assert.That(_idp.LastChallengeMethod, Is.EqualTo("S256"), "PKCE");

        var me = await FetchAsync(page, "GET", "/admin/me");
        Assert.That(me.Status, Is.EqualTo(200));
        Assert.That(me.Body!["name"]!.GetValue<string>(), Is.EqualTo("Ada Lovelace <ada@example.com>"));
        Assert.That(me.Body["role"]!.GetValue<string>(), Is.EqualTo("admin"));
        Assert.That(me.Body["org"]!.GetValue<string>(), Is.EqualTo("acme"));
        Assert.That(me.Body["via"]!.GetValue<string>(), Is.EqualTo("oidc"));
        var csrf = me.Body["csrf"]!.GetValue<string>();
        Assert.That(csrf, Is.Not.Empty);

        Assert.That((await FetchAsync(page, "GET", "/admin/orgs/acme/keys")).Status, Is.EqualTo(200));
        Assert.That((await FetchAsync(page, "GET", "/admin/orgs/globex")).Status, Is.EqualTo(404), "another organization is absent");
        Assert.That((await FetchAsync(page, "GET", "/admin/tokens")).Body!["code"]!.GetValue<string>(), Is.EqualTo("admin_forbidden"), "owner only");

        var noCsrf = await FetchAsync(page, "POST", "/admin/orgs/acme/keys", """{"name":"from_console"}""");
        Assert.That(noCsrf.Status, Is.EqualTo(403));
        Assert.That(noCsrf.Body!["code"]!.GetValue<string>(), Is.EqualTo("admin_csrf"));
        var wrongCsrf = await FetchAsync(page, "POST", "/admin/orgs/acme/keys", """{"name":"from_console"}""", csrf: csrf[..^4] + "AAAA");
        Assert.That(wrongCsrf.Body!["code"]!.GetValue<string>(), Is.EqualTo("admin_csrf"));

        var created = await FetchAsync(page, "POST", "/admin/orgs/acme/keys", """{"name":"from_console"}""", csrf);
        Assert.That(created.Status, Is.EqualTo(201), created.Text);
        var audit = await _gateway.AdminGetAsync("admin/audit?org=acme");
        Assert.That(audit["items"]![0]!["actor"]!.GetValue<string>(), Is.EqualTo("Ada Lovelace <ada@example.com>"));

        Assert.That((await FetchAsync(page, "POST", "/admin/orgs/globex/keys", """{"name":"x"}""", csrf)).Status, Is.EqualTo(404));
        await page.Context.CloseAsync();
    }

    [Test]
    public async Task SignIn_Viewer_ReadsButEveryWriteIsForbidden()
    {
        _idp.Claims["gateway_role"] = "viewer";
        var page = await SignInAsync(_browser, _gateway);
        var csrf = (await FetchAsync(page, "GET", "/admin/me")).Body!["csrf"]!.GetValue<string>();

        Assert.That((await FetchAsync(page, "GET", "/admin/orgs/acme/keys")).Status, Is.EqualTo(200));
        var write = await FetchAsync(page, "POST", "/admin/orgs/acme/keys", """{"name":"viewer_try"}""", csrf);
        Assert.That(write.Status, Is.EqualTo(403));
        Assert.That(write.Body!["code"]!.GetValue<string>(), Is.EqualTo("admin_forbidden"));
        await page.Context.CloseAsync();
    }

    [Test]
    public async Task SignIn_ConcurrentMeCalls_OneCsrfTokenThatEveryTabCanWriteWith()
    {
        // Two tabs (or the console and a script) asking at once: a token minted per call with a cookie of its own
        // left only the last cookie's token valid, and the console wrote with the other one.
        var page = await SignInAsync(_browser, _gateway);
        var tokens = await page.EvaluateAsync<string[]>(
            """
            async () => {
              const calls = Array.from({ length: 6 }, () => fetch('/admin/me').then(r => r.json()).then(b => b.csrf));
              return await Promise.all(calls);
            }
            """);
        Assert.That(tokens.Distinct().ToArray(), Has.Length.EqualTo(1), string.Join(", ", tokens));
        Assert.That(tokens[0], Has.Length.GreaterThanOrEqualTo(43), "256 random bits");
        var created = await FetchAsync(page, "POST", "/admin/orgs/acme/keys", """{"name":"from_tab"}""", tokens[0]);
        Assert.That(created.Status, Is.EqualTo(201), created.Text);

        // Another session's token is no good here.
        var other = await SignInAsync(_browser, _gateway);
        var otherCsrf = (await FetchAsync(other, "GET", "/admin/me")).Body!["csrf"]!.GetValue<string>();
        Assert.That(otherCsrf, Is.Not.EqualTo(tokens[0]));
        var crossed = await FetchAsync(page, "POST", "/admin/orgs/acme/keys", """{"name":"crossed"}""", otherCsrf);
        Assert.That(crossed.Status, Is.EqualTo(403));
        Assert.That(crossed.Body!["code"]!.GetValue<string>(), Is.EqualTo("admin_csrf"));
        await other.Context.CloseAsync();
        await page.Context.CloseAsync();
    }

    [Test]
    public async Task SignIn_AllOrgsOwner_SeesEveryOrganization()
    {
        _idp.Claims["gateway_role"] = "owner";
        _idp.Claims["gateway_org"] = "*";
        var page = await SignInAsync(_browser, _gateway);
        var me = await FetchAsync(page, "GET", "/admin/me");
        Assert.That(me.Body!["org"], Is.Null);
        Assert.That((await FetchAsync(page, "GET", "/admin/orgs/globex")).Status, Is.EqualTo(200));
        Assert.That((await FetchAsync(page, "GET", "/admin/tokens")).Status, Is.EqualTo(200));
        await page.Context.CloseAsync();
    }

    [Test]
    public async Task SignOut_WithCsrf_EndsTheSession()
    {
        var page = await SignInAsync(_browser, _gateway);
        var csrf = (await FetchAsync(page, "GET", "/admin/me")).Body!["csrf"]!.GetValue<string>();

        var refused = await FetchAsync(page, "POST", "/admin/auth/signout");
        Assert.That(refused.Status, Is.EqualTo(403), "sign-out needs the CSRF header too");
        Assert.That((await FetchAsync(page, "GET", "/admin/me")).Status, Is.EqualTo(200));

        Assert.That((await FetchAsync(page, "POST", "/admin/auth/signout", csrf: csrf)).Status, Is.EqualTo(204));
        var after = await FetchAsync(page, "GET", "/admin/me");
        Assert.That(after.Status, Is.EqualTo(401));
        Assert.That(after.Body!["code"]!.GetValue<string>(), Is.EqualTo("admin_unauthorized"));
        await page.Context.CloseAsync();
    }

    [Test]
    public async Task SignOut_CopyOfTheCookieTakenBefore_RefusedAfterwardsOtherSessionsNot()
    {
        var page = await SignInAsync(_browser, _gateway);
        var other = await SignInAsync(_browser, _gateway);
        var copy = await AdminSessionSharingTests.CookieHeaderAsync(page, _gateway);
        var otherCopy = await AdminSessionSharingTests.CookieHeaderAsync(other, _gateway);
        Assert.That(await AdminSessionSharingTests.MeStatusAsync(_gateway, copy), Is.EqualTo(System.Net.HttpStatusCode.OK));

        var csrf = (await FetchAsync(page, "GET", "/admin/me")).Body!["csrf"]!.GetValue<string>();
        Assert.That((await FetchAsync(page, "POST", "/admin/auth/signout", csrf: csrf)).Status, Is.EqualTo(204));

        Assert.That(await AdminSessionSharingTests.MeStatusAsync(_gateway, copy), Is.EqualTo(System.Net.HttpStatusCode.Unauthorized), "sign-out ends the session, not just the browser's cookie");
        Assert.That(await AdminSessionSharingTests.MeStatusAsync(_gateway, otherCopy), Is.EqualTo(System.Net.HttpStatusCode.OK), "another session goes on");
        await page.Context.CloseAsync();
        await other.Context.CloseAsync();
    }

    [TestCase("audience", 401, "another application")]
    [TestCase("expired", 401, "expired")]
    [TestCase("signature", 401, "signature")]
    [TestCase("alg-none", 401, "signature")]
    [TestCase("hs256-client-secret", 401, "signature")]
    [TestCase("no-role", 403, "no 'gateway_role' claim")]
    [TestCase("unknown-role", 403, "not one of verifier, viewer, admin or owner")]
    [TestCase("two-roles", 403, "several 'gateway_role' values")]
    [TestCase("no-org", 403, "'gateway_org'")]
    [TestCase("bad-org", 403, "'gateway_org'")]
    public async Task SignIn_TokenOrClaimsNotAcceptable_RefusedWithPageAndNoSession(string fault, int status, string reason)
    {
        switch (fault)
        {
            case "audience": _idp.Audience = "some-other-client"; break;
            case "expired": _idp.Lifetime = TimeSpan.FromMinutes(-10); break;
            case "signature": _idp.SignWithOtherKey = true; break;

            // The token endpoint's answer: ASP.NET's handler does not require it to be signed (dotnet/aspnetcore#37549).
            case "alg-none": _idp.SendUnsignedToken = true; _idp.Claims["gateway_role"] = "owner"; _idp.Claims["gateway_org"] = "*"; break;
            case "hs256-client-secret": _idp.SignWithClientSecret = true; break;
            case "no-role": _idp.Claims.Remove("gateway_role"); break;
            case "unknown-role": _idp.Claims["gateway_role"] = "superuser"; break;
            case "two-roles": _idp.Claims["gateway_role"] = new[] { "viewer", "owner" }; break;
            case "no-org": _idp.Claims.Remove("gateway_org"); break;
            case "bad-org": _idp.Claims["gateway_org"] = "acme/../globex"; break;
        }

        var context = await _browser.NewContextAsync();
        var page = await context.NewPageAsync();
        page.SetDefaultTimeout(15_000);
        var response = await page.GotoAsync(new Uri(_gateway.AdminUrl, "admin/auth/oidc/login?returnUrl=/console/").ToString());
        Assert.That(response!.Status, Is.EqualTo(status));
        Assert.That(new Uri(page.Url).AbsolutePath, Is.EqualTo("/admin/auth/oidc/callback"));
        Assert.That(await page.Locator("h1").TextContentAsync(), Is.EqualTo("Sign-in refused"));
        Assert.That(await page.Locator("#reason").TextContentAsync(), Does.Contain(reason));

        // The refusal page allows no script requests (its CSP); ask from the console page as the console would.
        await page.GotoAsync(new Uri(_gateway.AdminUrl, "console/").ToString());
        Assert.That((await FetchAsync(page, "GET", "/admin/me")).Status, Is.EqualTo(401), "no session was made");
        await context.CloseAsync();
    }

    [TestCase("https://evil.example/console/")]
    [TestCase("//evil.example/console/")]
    [TestCase("/\\evil.example/console/")]
    [TestCase("/admin/orgs")]
    [TestCase("/console/../admin/orgs")]
    [TestCase("/consolex")]
    [TestCase("javascript:alert(1)")]
    [TestCase("/admin/console/")]
    public async Task Login_ReturnUrlOutsideTheConsole_400WithoutRedirect(string returnUrl)
    {
        using var client = new HttpClient(new SocketsHttpHandler { AllowAutoRedirect = false }) { BaseAddress = _gateway.AdminUrl };
        using var response = await client.GetAsync("admin/auth/oidc/login?returnUrl=" + Uri.EscapeDataString(returnUrl));
        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.BadRequest));
        Assert.That(response.Headers.Location, Is.Null);
        var problem = await GatewayHost.ProblemAsync(response);
        Assert.That(problem["code"]!.GetValue<string>(), Is.EqualTo("invalid_request"));
    }

    [Test]
    public async Task Login_ConsolePath_RedirectsToProviderWithPkce()
    {
        using var client = new HttpClient(new SocketsHttpHandler { AllowAutoRedirect = false, UseCookies = false }) { BaseAddress = _gateway.AdminUrl };
        using var response = await client.GetAsync("admin/auth/oidc/login?returnUrl=%2Fconsole%2F%23keys");
        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.Redirect));
        var location = response.Headers.Location!.ToString();
        Assert.That(location, Does.StartWith(_idp.Authority + "/authorize?"));
        Assert.That(location, Does.Contain("code_challenge_method=S256").And.Contain("response_type=code").And.Contain("code_challenge="), location);
        Assert.That(location, Does.Not.Contain("response_mode=form_post"), "the code comes back in a top-level GET");
    }

    [TestCase("admin", null, null, "admin <user-ada>")]
    [TestCase(null, "gateway", null, "gateway <user-ada>")]
    [TestCase("acme-admin", null, null, "acme-admin <user-ada>")]
    [TestCase("admin", null, "admin@example.com", "admin <admin@example.com>")]
    [TestCase(null, null, null, "<user-ada>")]
    public async Task SignIn_ActorAlwaysCarriesTheIdentityInBrackets_NeverATokensActor(string? name, string? preferredUsername, string? email, string actor)
    {
        // "admin" is the bootstrap token's actor, "gateway" the gateway's own, and operator token names cannot hold '<'.
        _idp.Claims.Remove("name");
        _idp.Claims.Remove("email");
        if (name is not null)
        {
            _idp.Claims["name"] = name;
        }

        if (preferredUsername is not null)
        {
            _idp.Claims["preferred_username"] = preferredUsername;
        }

        if (email is not null)
        {
            _idp.Claims["email"] = email;
        }

        var page = await SignInAsync(_browser, _gateway);
        var me = await FetchAsync(page, "GET", "/admin/me");
        Assert.That(me.Body!["name"]!.GetValue<string>(), Is.EqualTo(actor));
        var csrf = me.Body["csrf"]!.GetValue<string>();
        var keyName = "actor_" + Guid.NewGuid().ToString("N")[..8];
        var created = await FetchAsync(page, "POST", "/admin/orgs/acme/keys", $$"""{"name":"{{keyName}}"}""", csrf);
        Assert.That(created.Status, Is.EqualTo(201), created.Text);
        Assert.That(created.Body!["createdBy"]!.GetValue<string>(), Is.EqualTo(actor));
        var audit = await _gateway.AdminGetAsync("admin/audit?org=acme");
        Assert.That(audit["items"]![0]!["actor"]!.GetValue<string>(), Is.EqualTo(actor));
        await page.Context.CloseAsync();
    }

    [Test]
    public async Task Login_ProviderUnreachable_503PageNot500()
    {
        // A provider that was there and is gone: its discovery document cannot be fetched.
        using var closed = new ClosedPort();
        await using var gateway = await GatewayHost.StartAsync(new Dictionary<string, string?>
        {
            ["Gateway:Admin:Oidc:Authority"] = $"http://127.0.0.1:{closed.Port}",
            ["Gateway:Admin:Oidc:ClientId"] = TestIdentityProvider.ClientId,
            ["Gateway:Admin:Oidc:RequireHttpsMetadata"] = "false",
        });
        using var client = new HttpClient(new SocketsHttpHandler { AllowAutoRedirect = false, UseCookies = false }) { BaseAddress = gateway.AdminUrl };
        for (var attempt = 0; attempt < 2; attempt++)
        {
            // The second attempt meets the configuration manager's remembered failure.
            using var response = await client.GetAsync("admin/auth/oidc/login?returnUrl=/console/");
            var body = await response.Content.ReadAsStringAsync();
            Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.ServiceUnavailable), $"attempt {attempt + 1}: {body}");
            Assert.That(response.Headers.Location, Is.Null);
            Assert.That(response.Headers.CacheControl?.NoStore, Is.True);
            Assert.That(response.Headers.Contains("X-Request-Id"), Is.True);
            Assert.That(response.Content.Headers.ContentType?.MediaType, Is.EqualTo("text/html"));
            Assert.That(body, Does.Contain("Sign-in unavailable").And.Contain("identity provider could not be reached"));
        }
    }

    [Test]
    public async Task Providers_WithOidc_True()
    {
        using var client = new HttpClient { BaseAddress = _gateway.AdminUrl };
        var body = JsonNode.Parse(await client.GetStringAsync("admin/auth/providers"))!;
        Assert.That(body["oidc"]!.GetValue<bool>(), Is.True);
    }

    [Test]
    public async Task Providers_WithoutOidc_FalseAndLogin404AndCookieIgnored()
    {
        await using var plain = await GatewayHost.StartAsync();
        using var client = new HttpClient(new SocketsHttpHandler { AllowAutoRedirect = false, UseCookies = false }) { BaseAddress = plain.AdminUrl };
        var body = JsonNode.Parse(await client.GetStringAsync("admin/auth/providers"))!;
        Assert.That(body["oidc"]!.GetValue<bool>(), Is.False);
        using var login = await client.GetAsync("admin/auth/oidc/login?returnUrl=/console/");
        Assert.That(login.StatusCode, Is.EqualTo(HttpStatusCode.NotFound));
        using var callback = await client.GetAsync("admin/auth/oidc/callback?code=x&state=y");
        Assert.That((int)callback.StatusCode, Is.EqualTo(404));
    }

    /// <summary>Signs in through the provider in a fresh browser context and returns the console page it lands on.</summary>
    internal static async Task<IPage> SignInAsync(IBrowser browser, GatewayHost gateway)
    {
        var context = await browser.NewContextAsync();
        var page = await context.NewPageAsync();
        page.SetDefaultTimeout(15_000);
        var response = await page.GotoAsync(new Uri(gateway.AdminUrl, "admin/auth/oidc/login?returnUrl=/console/").ToString());
        Assert.That(response!.Status, Is.EqualTo(200), await response.TextAsync());
        // The console may already have moved to its landing view (#/orgs/...) by the time the URL is read.
        Assert.That(new Uri(page.Url).GetLeftPart(UriPartial.Path), Is.EqualTo(new Uri(gateway.AdminUrl, "console/").ToString()), "back on the console after the provider");
        return page;
    }

    internal sealed record Fetched(int Status, string Text)
    {
        public JsonNode? Body => Text.Length == 0 ? null : JsonNode.Parse(Text);
    }

    /// <summary>A same-origin fetch from the console page, as the console's script makes it.</summary>
    internal static async Task<Fetched> FetchAsync(IPage page, string method, string path, string? json = null, string? csrf = null)
    {
        var result = await page.EvaluateAsync<System.Text.Json.JsonElement>(
            """
            async ([method, path, body, csrf]) => {
              const headers = {};
              if (body !== null) headers['Content-Type'] = 'application/json';
              if (csrf !== null) headers['X-Gateway-Csrf'] = csrf;
              const r = await fetch(path, { method, headers, body });
              return { status: r.status, text: await r.text() };
            }
            """,
            new object?[] { method, path, json, csrf });
        return new Fetched(result.GetProperty("status").GetInt32(), result.GetProperty("text").GetString() ?? "");
    }
}
