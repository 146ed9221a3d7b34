using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Security.Claims;
using System.Text.Json.Nodes;
using Gateway.AspNetCore;
using Gateway.Tests.Common;
using Gateway.Tests.Operators;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Gateway.Tests.Sdk;

/// <summary>
/// A small service using Gateway.AspNetCore against a real gateway: Bearer keys through the verify API (with its
/// cache and revocation delay, and charging), and the signed identity headers of requests it receives through the proxy.
/// </summary>
public sealed class AspNetCoreSampleTests
{
    private static readonly TimeSpan CacheDuration = TimeSpan.FromSeconds(1);
    private const string Secret = "sample-signing-secret-0123456789abcdef";

    private WebApplication _app = null!;
    private GatewayHost _gateway = null!;
    private HttpClient _service = null!;
    private Uri _adminUrl = null!;
    private string _verifierToken = null!;

    [OneTimeSetUp]
    public async Task StartAsync()
    {
        // The service starts first (the gateway routes to it); its handler options read the gateway's address on first use.
        // A content root of its own: the test output holds the gateway's appsettings.json, whose Kestrel endpoints are not ours.
        var root = Directory.CreateTempSubdirectory("gw-sample-").FullName;
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { ContentRootPath = root, EnvironmentName = "Testing", Args = [] });
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Logging.ClearProviders();
        builder.Services.AddAuthentication(GatewayApiKeyDefaults.AuthenticationScheme)
            .AddGatewayApiKey(o =>
            {
                o.AdminUrl = _adminUrl;
                o.Token = _verifierToken;
                o.CacheDuration = CacheDuration;
            })
            .AddGatewayApiKey("staging", o =>
            {
                o.AdminUrl = _adminUrl;
                o.Token = _verifierToken;
                o.Environment = "staging";
            })
            .AddGatewayApiKey("charged", o =>
            {
                o.AdminUrl = _adminUrl;
                o.Token = _verifierToken;
                o.Charge = true;
            })
            .AddGatewaySignedHeaders(o => o.Secrets["k1"] = Secret);
        builder.Services.AddAuthorizationBuilder()
            .AddPolicy("write", p => p.RequireGatewayScope("write"))
            .AddPolicy("signed", p => p.AddAuthenticationSchemes(GatewaySignedHeadersDefaults.AuthenticationScheme).RequireAuthenticatedUser());
        _app = builder.Build();
        _app.UseAuthentication();
        _app.UseAuthorization();
        _app.MapGet("/whoami", Describe).RequireAuthorization();
        _app.MapGet("/write", Describe).RequireAuthorization("write");
        _app.MapGet("/staging", Describe).RequireAuthorization(new AuthorizeAttribute { AuthenticationSchemes = "staging" });
        _app.MapGet("/charged", Describe).RequireAuthorization(new AuthorizeAttribute { AuthenticationSchemes = "charged" });
        _app.MapGet("/signed/whoami", Describe).RequireAuthorization("signed");
        await _app.StartAsync();
        var serviceUrl = _app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();

        _gateway = await GatewayHost.StartAsync(new Dictionary<string, string?>(GatewayHost.Routes(serviceUrl + "/", ("signed", "/signed/{**rest}", [])))
        {
            ["Gateway:Signing:Secrets:0:Id"] = "k1",
            ["Gateway:Signing:Secrets:0:Secret"] = Secret,
        });
        await _gateway.CreateOrgAsync("shop");
        _adminUrl = _gateway.AdminUrl;
        _verifierToken = (await _gateway.CreateTokenAsync("shop-service", "verifier", "shop"))["token"]!.GetValue<string>();
        _service = new HttpClient { BaseAddress = new Uri(serviceUrl) };
    }

    [OneTimeTearDown]
    public async Task StopAsync()
    {
        _service?.Dispose();
        if (_gateway is not null)
        {
            await _gateway.DisposeAsync();
        }

        if (_app is not null)
        {
            await _app.DisposeAsync();
        }
    }

    [Test]
    public async Task ApiKeyHandler_ValidKey_PrincipalCarriesOrgKeyScopesCustomer()
    {
        var key = await _gateway.CreateKeyAsync("shop", new { name = "reader", scopes = new[] { "read" }, customerId = "cust-9" });

        var me = await GetJsonAsync("/whoami", key.Str("key"), HttpStatusCode.OK);

        Assert.Multiple(() =>
        {
            Assert.That(me.Str(GatewayClaimTypes.OrgId), Is.EqualTo("shop"));
            Assert.That(me.Str(GatewayClaimTypes.KeyId), Is.EqualTo(key.Str("id")));
            Assert.That(me.Str(GatewayClaimTypes.KeyName), Is.EqualTo("reader"));
            Assert.That(me.Str(GatewayClaimTypes.Scope), Is.EqualTo("read"));
            Assert.That(me.Str(GatewayClaimTypes.CustomerId), Is.EqualTo("cust-9"));
            Assert.That(me.Str(GatewayClaimTypes.Environment), Is.EqualTo("production"));
        });
    }

    [Test]
    public async Task ApiKeyHandler_RefusedKeys_401Or403()
    {
        var reader = (await _gateway.CreateKeyAsync("shop", new { name = "reader2", scopes = new[] { "read" } })).Str("key");
        var writer = (await _gateway.CreateKeyAsync("shop", new { name = "writer", scopes = new[] { "read", "write" } })).Str("key");

        Assert.Multiple(async () =>
        {
            Assert.That(await StatusAsync("/whoami", null), Is.EqualTo(HttpStatusCode.Unauthorized));
            Assert.That(await StatusAsync("/whoami", "gw_live_not-a-key"), Is.EqualTo(HttpStatusCode.Unauthorized));
            Assert.That(await StatusAsync("/write", reader), Is.EqualTo(HttpStatusCode.Forbidden), "insufficient scope");
            Assert.That(await StatusAsync("/write", writer), Is.EqualTo(HttpStatusCode.OK));
            Assert.That(await StatusAsync("/staging", writer), Is.EqualTo(HttpStatusCode.Unauthorized), "wrong environment");
        });
    }

    [Test]
    public async Task ApiKeyHandler_RevokedKey_RefusedWithinTheCacheDuration()
    {
        var key = await _gateway.CreateKeyAsync("shop", new { name = "revokable" });
        Assert.That(await StatusAsync("/whoami", key.Str("key")), Is.EqualTo(HttpStatusCode.OK));

        await _gateway.AdminPostAsync($"admin/keys/{key.Str("id")}/revoke");
        var revokedAt = Stopwatch.StartNew();
        await GatewayHost.WaitForAsync(async () => await StatusAsync("/whoami", key.Str("key")) == HttpStatusCode.Unauthorized, CacheDuration + TimeSpan.FromSeconds(2));

        Assert.That(revokedAt.Elapsed, Is.LessThan(CacheDuration + TimeSpan.FromSeconds(1)), "revocation seen within the documented cache duration");
    }

    [Test]
    public async Task ApiKeyHandler_Charge_SpendsTheKeysLimitPerRequest()
    {
        var key = (await _gateway.CreateKeyAsync("shop", new { name = "metered", rateLimit = new { permitLimit = 2, window = "00:10:00" } })).Str("key");

        Assert.That(await StatusAsync("/whoami", key), Is.EqualTo(HttpStatusCode.OK), "an uncharged scheme spends nothing");
        Assert.That(await StatusAsync("/charged", key), Is.EqualTo(HttpStatusCode.OK));
        Assert.That(await StatusAsync("/charged", key), Is.EqualTo(HttpStatusCode.OK));
        Assert.That(await StatusAsync("/charged", key), Is.EqualTo(HttpStatusCode.Unauthorized), "the third charged request is over the limit");
        Assert.That(await _gateway.CodeAsync(key, "/signed/whoami"), Is.EqualTo("rate_limited"), "the proxy sees the same count");
    }

    [Test]
    public async Task SignedHeadersHandler_ThroughTheProxy_SamePrincipal_ForgedHeadersRefused()
    {
        var key = await _gateway.CreateKeyAsync("shop", new { name = "proxied", scopes = new[] { "read" } });

        using var response = await _gateway.CallAsync("/signed/whoami", key.Str("key"));
        var text = await response.Content.ReadAsStringAsync();
        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK), text);
        var me = JsonNode.Parse(text)!;
        Assert.Multiple(() =>
        {
            Assert.That(me.Str(GatewayClaimTypes.OrgId), Is.EqualTo("shop"));
            Assert.That(me.Str(GatewayClaimTypes.KeyId), Is.EqualTo(key.Str("id")));
            Assert.That(me.Str(GatewayClaimTypes.Scope), Is.EqualTo("read"));
        });

        // Straight to the service with made-up identity headers: no valid signature, no principal.
        using var forged = new HttpRequestMessage(HttpMethod.Get, "/signed/whoami");
        forged.Headers.Add("X-Org-Id", "shop");
        forged.Headers.Add("X-Key-Id", "key_forged");
        forged.Headers.Add("X-Gateway-Signature", "t=1,kid=k1,v1=" + new string('0', 64));
        using var refused = await _service.SendAsync(forged);
        Assert.That(refused.StatusCode, Is.EqualTo(HttpStatusCode.Unauthorized));
    }

    private static IResult Describe(ClaimsPrincipal user) =>
        Results.Json(user.Claims.GroupBy(c => c.Type).ToDictionary(g => g.Key, g => string.Join(' ', g.Select(c => c.Value))));

    private async Task<HttpStatusCode> StatusAsync(string path, string? key)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, path);
        if (key is not null)
        {
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", key);
        }

        using var response = await _service.SendAsync(request);
        return response.StatusCode;
    }

    private async Task<JsonNode> GetJsonAsync(string path, string key, HttpStatusCode expected)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, path);
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", key);
        using var response = await _service.SendAsync(request);
        var text = await response.Content.ReadAsStringAsync();
        Assert.That(response.StatusCode, Is.EqualTo(expected), text);
        return JsonNode.Parse(text)!;
    }
}
