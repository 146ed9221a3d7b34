using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Sockets;
using System.Security.Claims;
using System.Text;
using System.Text.Json.Nodes;
using Gateway.AspNetCore;
using Gateway.Tests.Common;
using Gateway.Tests.Operators;
using Gateway.Verification;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using WireMock.RequestBuilders;
using WireMock.ResponseBuilders;
using WireMock.Server;

namespace Gateway.Tests.Sdk;

/// <summary>
/// A small service using Gateway.AspNetCore against a real gateway: Bearer keys through the verify API (with its
/// cache and revocation delay, and charging), and the signed identity headers of requests it receives through the proxy.
/// </summary>
public sealed class AspNetCoreSampleTests
{
    private static readonly TimeSpan CacheDuration = TimeSpan.FromSeconds(1);
    private const string Secret = "sample-signing-secret-0123456789abcdef";
    private static readonly TimeSpan ShortTimeout = TimeSpan.FromMilliseconds(300);

    private const string CaptureHeader = "X-Test-Capture";
    private readonly ConcurrentDictionary<string, List<KeyValuePair<string, string>>> _captured = new(StringComparer.Ordinal);
    private WebApplication _app = null!;
    private GatewayHost _gateway = null!;
    private HttpClient _service = null!;
    private Uri _adminUrl = null!;
    private string _verifierToken = null!;
    private TcpListener _silentAdmin = null!;
    private WireMockServer _htmlAdmin = null!;

    [OneTimeSetUp]
    public async Task StartAsync()
    {
        // An admin URL that accepts connections and never answers, and one answering 200 with a proxy's HTML page.
        _silentAdmin = new TcpListener(IPAddress.Loopback, 0);
        _silentAdmin.Start();
        _htmlAdmin = WireMockServer.Start();
        _htmlAdmin.Given(Request.Create().UsingAnyMethod())
            .RespondWith(Response.Create().WithStatusCode(200).WithHeader("Content-Type", "text/html").WithBody("<html><body>Sign in to the Wi-Fi</body></html>"));

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
            .AddGatewayApiKey("silent", o =>
            {
                o.AdminUrl = new Uri($"http://127.0.0.1:{((IPEndPoint)_silentAdmin.LocalEndpoint).Port}/");
                o.Token = "gwa_unused";
                o.Timeout = ShortTimeout;
            })
            .AddGatewayApiKey("html", o =>
            {
                o.AdminUrl = new Uri(_htmlAdmin.Url! + "/");
                o.Token = "gwa_unused";
            })
            .AddGatewaySignedHeaders(o => o.Secrets["k1"] = Secret)
            .AddGatewaySignedHeaders("signed-v2", o => o.Verifier = GatewaySignatureVerifier.ForCluster(
                "upstream",
                new Dictionary<string, string> { ["k1"] = Convert.ToHexStringLower(GatewaySignature.DeriveClusterKey(Secret, "upstream")) },
                new GatewaySignatureOptions { NonceCache = new MemoryNonceCache() }))
            // No nonce cache, so a captured request can be replayed within the tolerance, as it can wherever none is shared.
            .AddGatewaySignedHeaders("signed-v2-strict", o => o.Verifier = GatewaySignatureVerifier.ForCluster(
                "upstream",
                new Dictionary<string, string> { ["k1"] = Convert.ToHexStringLower(GatewaySignature.DeriveClusterKey(Secret, "upstream")) },
                new GatewaySignatureOptions { RequireBodyDigest = true }));
        builder.Services.AddAuthorizationBuilder()
            .AddPolicy("write", p => p.RequireGatewayScope("write"))
            .AddPolicy("signed", p => p.AddAuthenticationSchemes(GatewaySignedHeadersDefaults.AuthenticationScheme).RequireAuthenticatedUser())
            .AddPolicy("signed-v2", p => p.AddAuthenticationSchemes("signed-v2").RequireAuthenticatedUser())
            .AddPolicy("signed-v2-strict", p => p.AddAuthenticationSchemes("signed-v2-strict").RequireAuthenticatedUser());
        _app = builder.Build();

        // What an attacker on the gateway-to-service hop sees: a request marked for capture is recorded, not served.
        _app.Use(async (context, next) =>
        {
            if (context.Request.Headers[CaptureHeader] is [{ } id])
            {
                _captured[id] = [.. context.Request.Headers.SelectMany(h => h.Value.Select(v => KeyValuePair.Create(h.Key, v ?? "")))];
                context.Response.StatusCode = StatusCodes.Status204NoContent;
                return;
            }

            await next(context);
        });
        _app.UseAuthentication();
        _app.UseAuthorization();
        _app.MapGet("/whoami", Describe).RequireAuthorization();
        _app.MapGet("/write", Describe).RequireAuthorization("write");
        _app.MapGet("/staging", Describe).RequireAuthorization(new AuthorizeAttribute { AuthenticationSchemes = "staging" });
        _app.MapGet("/charged", Describe).RequireAuthorization(new AuthorizeAttribute { AuthenticationSchemes = "charged" });
        _app.MapGet("/signed/whoami", Describe).RequireAuthorization("signed");
        _app.MapGet("/silent", Describe).RequireAuthorization(new AuthorizeAttribute { AuthenticationSchemes = "silent" });
        _app.MapGet("/html", Describe).RequireAuthorization(new AuthorizeAttribute { AuthenticationSchemes = "html" });
        _app.MapPost("/signed/v2/echo", EchoAsync).RequireAuthorization("signed-v2");
        _app.MapMethods("/signed/v2/strict/{**rest}", ["POST", "DELETE"], EchoAsync).RequireAuthorization("signed-v2-strict");
        await _app.StartAsync();
        var serviceUrl = _app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();

        _gateway = await GatewayHost.StartAsync(new Dictionary<string, string?>(GatewayHost.Routes(serviceUrl + "/", ("signed", "/signed/{**rest}", [])))
        {
            ["Gateway:Signing:Secrets:0:Id"] = "k1",
            ["Gateway:Signing:Secrets:0:Secret"] = Secret,
            ["Gateway:Signing:Versions"] = "v1,v2",
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
        _silentAdmin?.Dispose();
        _htmlAdmin?.Stop();
        _htmlAdmin?.Dispose();
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

    [Test]
    public async Task SignedHeadersHandler_Version2_PostWithADigestedBody_AuthenticatesAndTheEndpointStillReadsTheBody()
    {
        var key = await _gateway.CreateKeyAsync("shop", new { name = "poster", scopes = new[] { "write" } });
        const string body = "{\"order\":42,\"items\":[\"a\",\"b\"]}";

        using var response = await _gateway.CallAsync("/signed/v2/echo", key.Str("key"), r =>
        {
            r.Method = HttpMethod.Post;
            r.Content = new StringContent(body, Encoding.UTF8, "application/json");
        });
        var text = await response.Content.ReadAsStringAsync();

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK), text);
        var echo = JsonNode.Parse(text)!;
        Assert.Multiple(() =>
        {
            Assert.That(echo.Str("org"), Is.EqualTo("shop"));
            Assert.That(echo.Str("body"), Is.EqualTo(body), "the handler read the body and left it for the endpoint");
            Assert.That(echo.Str("digest"), Does.StartWith("sha-256="), "the gateway covered the body");
        });
    }

    [Test]
    public async Task SignedHeadersHandler_Version2_BodyAddedToARequestSignedWithoutOne_Refused()
    {
        var key = await _gateway.CreateKeyAsync("shop", new { name = "deleter", scopes = new[] { "write" } });
        var captured = await CaptureAsync(HttpMethod.Delete, "/signed/v2/strict/orders/7", key.Str("key"), content: null);
        Assert.That(captured.Any(h => h.Key.Equals(GatewaySignature.ContentDigestHeaderName, StringComparison.OrdinalIgnoreCase)), Is.False, "signed as having no body");

        const string added = "{\"force\":true,\"cascade\":\"all\"}";
        using var genuine = await ReplayAsync(HttpMethod.Delete, "/signed/v2/strict/orders/7", captured, content: null);
        using var withLength = await ReplayAsync(HttpMethod.Delete, "/signed/v2/strict/orders/7", captured, new StringContent(added, Encoding.UTF8, "application/json"));
        using var chunked = await ReplayAsync(HttpMethod.Delete, "/signed/v2/strict/orders/7", captured, new StreamContent(new UnknownLengthStream(Encoding.UTF8.GetBytes(added))));

        Assert.Multiple(() =>
        {
            Assert.That(genuine.StatusCode, Is.EqualTo(HttpStatusCode.OK), "the captured request as the gateway sent it");
            Assert.That(withLength.StatusCode, Is.EqualTo(HttpStatusCode.Unauthorized), "a body added with a Content-Length");
            Assert.That(chunked.StatusCode, Is.EqualTo(HttpStatusCode.Unauthorized), "a body added chunked");
        });
    }

    [Test]
    public async Task SignedHeadersHandler_Version2_ContentDigestSpelledWithAnUnderscore_BodyStillChecked()
    {
        // Signed as the gateway signs a covered empty body; the header renamed so a lookup of "Content-Digest" misses it.
        var host = _service.BaseAddress!.Authority;
        const string path = "/signed/v2/strict/orders";
        var identity = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase) { ["X-Org-Id"] = "shop", ["X-Key-Id"] = "key_underscore", ["X-Key-Scopes"] = "write" };
        var digest = GatewaySignature.ContentDigest([]);
        var t = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        var nonce = "n0123456789abcdefghijk";
        var mac = GatewaySignature.ComputeV2(
            GatewaySignature.DeriveClusterKey(Secret, "upstream"),
            GatewaySignature.CanonicalStringV2(t, nonce, "POST", host, "upstream", path, name => identity.GetValueOrDefault(name), digest));
        List<KeyValuePair<string, string>> Signed(string digestName) =>
        [
            .. identity,
            KeyValuePair.Create("Host", host),
            KeyValuePair.Create(GatewaySignature.HeaderName, $"t={t},kid=k1,n={nonce},v2={mac}"),
            KeyValuePair.Create(digestName, digest),
        ];

        using var genuine = await ReplayAsync(HttpMethod.Post, path, Signed("Content-Digest"), content: null);
        using var renamedEmpty = await ReplayAsync(HttpMethod.Post, path, Signed("Content_Digest"), content: null);
        using var renamedWithBody = await ReplayAsync(HttpMethod.Post, path, Signed("Content_Digest"), new StringContent("{\"force\":true}", Encoding.UTF8, "application/json"));

        Assert.Multiple(() =>
        {
            Assert.That(genuine.StatusCode, Is.EqualTo(HttpStatusCode.OK));
            Assert.That(renamedEmpty.StatusCode, Is.EqualTo(HttpStatusCode.OK), "the verifier reads Content_Digest as Content-Digest, and the body is the one signed");
            Assert.That(renamedWithBody.StatusCode, Is.EqualTo(HttpStatusCode.Unauthorized), "the body must hash to the digest, whatever its spelling");
        });
    }

    [Test]
    public async Task SignedHeadersHandler_Version2_BodyOverMaxDigestBytes_UnsignedAccepted_EndpointReadsAllOfIt_RefusedWithRequireBodyDigest()
    {
        var key = (await _gateway.CreateKeyAsync("shop", new { name = "uploader", scopes = new[] { "write" } })).Str("key");
        var body = "{\"blob\":\"" + new string('x', 100_000) + "\"}";

        using var loose = await _gateway.CallAsync("/signed/v2/echo", key, r =>
        {
            r.Method = HttpMethod.Post;
            r.Content = new StringContent(body, Encoding.UTF8, "application/json");
        });
        var text = await loose.Content.ReadAsStringAsync();
        using var strict = await _gateway.CallAsync("/signed/v2/strict/uploads", key, r =>
        {
            r.Method = HttpMethod.Post;
            r.Content = new StringContent(body, Encoding.UTF8, "application/json");
        });

        Assert.That(loose.StatusCode, Is.EqualTo(HttpStatusCode.OK), text);
        var echo = JsonNode.Parse(text)!;
        Assert.Multiple(() =>
        {
            Assert.That(echo.Str("digest"), Is.Empty, "the gateway did not cover the body");
            Assert.That(echo.Str("body"), Is.EqualTo(body), "the endpoint reads the whole body");
            Assert.That(strict.StatusCode, Is.EqualTo(HttpStatusCode.Unauthorized), "RequireBodyDigest refuses a body the signature does not cover");
        });
    }

    [Test]
    public async Task ApiKeyHandler_AdminUrlNeverAnswers_FailsWithinTheTimeout()
    {
        var elapsed = Stopwatch.StartNew();

        var status = await StatusAsync("/silent", "gw_live_any-key");

        Assert.That(status, Is.EqualTo(HttpStatusCode.Unauthorized));
        Assert.That(elapsed.Elapsed, Is.LessThan(ShortTimeout + TimeSpan.FromSeconds(10)), "the verify call gave up after Timeout, not HttpClient's 100 s");
    }

    [Test]
    public async Task ApiKeyHandler_AdminUrlAnswersHtml_FailsAuthenticationNot500()
    {
        Assert.That(await StatusAsync("/html", "gw_live_any-key"), Is.EqualTo(HttpStatusCode.Unauthorized));
    }

    private static async Task<IResult> EchoAsync(HttpRequest request, ClaimsPrincipal user)
    {
        using var reader = new StreamReader(request.Body, Encoding.UTF8);
        var body = await reader.ReadToEndAsync();
        return Results.Json(new Dictionary<string, string?>
        {
            ["org"] = user.FindFirst(GatewayClaimTypes.OrgId)?.Value,
            ["body"] = body,
            ["digest"] = request.Headers[GatewaySignature.ContentDigestHeaderName].ToString(),
        });
    }

    /// <summary>The headers the service received for a request sent through the proxy (the request is not served).</summary>
    private async Task<List<KeyValuePair<string, string>>> CaptureAsync(HttpMethod method, string path, string key, HttpContent? content)
    {
        var id = Guid.NewGuid().ToString("N");
        using var response = await _gateway.CallAsync(path, key, r =>
        {
            r.Method = method;
            r.Content = content;
            r.Headers.Add(CaptureHeader, id);
        });
        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.NoContent), await response.Content.ReadAsStringAsync());
        return [.. _captured[id].Where(h => !h.Key.Equals(CaptureHeader, StringComparison.OrdinalIgnoreCase))];
    }

    /// <summary>Sends <paramref name="headers"/> straight to the service, with <paramref name="content"/> as the body.</summary>
    private async Task<HttpResponseMessage> ReplayAsync(HttpMethod method, string path, List<KeyValuePair<string, string>> headers, HttpContent? content)
    {
        using var request = new HttpRequestMessage(method, path) { Content = content };
        foreach (var (name, value) in headers)
        {
            if (name.Equals("Content-Length", StringComparison.OrdinalIgnoreCase) || name.Equals("Transfer-Encoding", StringComparison.OrdinalIgnoreCase))
            {
                // Framing is the replayer's: it describes the body sent now.
                continue;
            }

            if (!request.Headers.TryAddWithoutValidation(name, value))
            {
                (request.Content ??= new ByteArrayContent([])).Headers.TryAddWithoutValidation(name, value);
            }
        }

        return await _service.SendAsync(request);
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

    /// <summary>A readable stream that cannot tell its length, so HttpClient sends it chunked.</summary>
    private sealed class UnknownLengthStream(byte[] data) : MemoryStream(data)
    {
        public override bool CanSeek => false;
    }
}
