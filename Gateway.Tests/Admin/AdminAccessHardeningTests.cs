using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Gateway.Domain;
using Gateway.Stores;
using Gateway.Tests.Common;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;

namespace Gateway.Tests.Admin;

/// <summary>
/// Who the admin listener believes a caller is (TCP peer, or X-Forwarded-For only through
/// Gateway:Admin:TrustedProxies), how wrong tokens are counted (per address group and globally, only when a
/// token was presented), refusal of cross-site browser requests, no-store on secrets, the OpenAPI document's
/// servers, and state-changing calls that outlive their client.
/// </summary>
public sealed class AdminAccessHardeningTests
{
    private const string Wrong = "Kq2Xv9Lm4Rt8Zp3Wn6Yb1Hc5Jd-wrong-guess";

    [Test]
    public async Task Throttle_ProxyTrustedProxiesCoverCaller_XForwardedForIgnored_TcpPeerThrottledAndAudited()
    {
        // The proxy's list covers the caller; the admin listener must not believe it.
        await using var gateway = await GatewayHost.StartAsync(new Dictionary<string, string?>
        {
            ["Gateway:TrustedProxies:0"] = "127.0.0.1",
            ["Gateway:Admin:FailedAttempts:PermitLimit"] = "3",
        });
        using (var created = await SendAsync(gateway, HttpMethod.Post, "admin/orgs", GatewayHost.AdminToken, "203.0.113.9", new { id = "acme" }))
        {
            Assert.That(created.StatusCode, Is.EqualTo(HttpStatusCode.Created));
        }

        var audit = await gateway.AdminGetAsync("admin/audit?org=acme");
        Assert.That(audit["items"]![0]!["callerAddress"]!.GetValue<string>(), Is.EqualTo("127.0.0.1"), "the TCP peer, not the header");

        for (var i = 0; i < 3; i++)
        {
            using var refused = await SendAsync(gateway, HttpMethod.Get, "admin/orgs", Wrong, $"198.51.100.{i + 1}");
            Assert.That(refused.StatusCode, Is.EqualTo(HttpStatusCode.Unauthorized), $"attempt {i + 1}");
        }

        using var throttled = await SendAsync(gateway, HttpMethod.Get, "admin/orgs", GatewayHost.AdminToken, "198.51.100.77");
        await AssertThrottledAsync(throttled);
    }

    [Test]
    public async Task Throttle_AdminTrustedProxies_CountsAndAuditsTheForwardedAddress()
    {
        await using var gateway = await GatewayHost.StartAsync(new Dictionary<string, string?>
        {
            ["Gateway:Admin:TrustedProxies:0"] = "127.0.0.0/8",
            ["Gateway:Admin:FailedAttempts:PermitLimit"] = "3",
        });
        using (var created = await SendAsync(gateway, HttpMethod.Post, "admin/orgs", GatewayHost.AdminToken, "203.0.113.9", new { id = "acme" }))
        {
            Assert.That(created.StatusCode, Is.EqualTo(HttpStatusCode.Created));
        }

        var audit = await gateway.AdminGetAsync("admin/audit?org=acme");
        Assert.That(audit["items"]![0]!["callerAddress"]!.GetValue<string>(), Is.EqualTo("203.0.113.9"));

        for (var i = 0; i < 3; i++)
        {
            using var refused = await SendAsync(gateway, HttpMethod.Get, "admin/orgs", Wrong, "198.51.100.1");
            Assert.That(refused.StatusCode, Is.EqualTo(HttpStatusCode.Unauthorized));
        }

        using (var locked = await SendAsync(gateway, HttpMethod.Get, "admin/orgs", GatewayHost.AdminToken, "198.51.100.1"))
        {
            await AssertThrottledAsync(locked);
        }

        using var other = await SendAsync(gateway, HttpMethod.Get, "admin/orgs", GatewayHost.AdminToken, "198.51.100.2");
        Assert.That(other.StatusCode, Is.EqualTo(HttpStatusCode.OK), "another address is not locked");
    }

    [Test]
    public async Task Throttle_Ipv6_CountedPerPrefix()
    {
        await using var gateway = await GatewayHost.StartAsync(new Dictionary<string, string?>
        {
            ["Gateway:Admin:TrustedProxies:0"] = "127.0.0.1",
            ["Gateway:Admin:FailedAttempts:PermitLimit"] = "3",
        });
        foreach (var address in new[] { "2001:db8::1", "2001:db8::2", "2001:db8::ffff:3" })
        {
            using var refused = await SendAsync(gateway, HttpMethod.Get, "admin/orgs", Wrong, address);
            Assert.That(refused.StatusCode, Is.EqualTo(HttpStatusCode.Unauthorized));
        }

        using (var samePrefix = await SendAsync(gateway, HttpMethod.Get, "admin/orgs", GatewayHost.AdminToken, "2001:db8::abcd"))
        {
            await AssertThrottledAsync(samePrefix);
        }

        using var otherPrefix = await SendAsync(gateway, HttpMethod.Get, "admin/orgs", GatewayHost.AdminToken, "2001:db8:0:1::1");
        Assert.That(otherPrefix.StatusCode, Is.EqualTo(HttpStatusCode.OK));
    }

    [Test]
    public async Task Throttle_GlobalBudgetUsedUpFromManyAddresses_EveryCaller429()
    {
        await using var gateway = await GatewayHost.StartAsync(new Dictionary<string, string?>
        {
            ["Gateway:Admin:TrustedProxies:0"] = "127.0.0.1",
            ["Gateway:Admin:FailedAttempts:PermitLimit"] = "3",
            ["Gateway:Admin:GlobalFailedAttempts:PermitLimit"] = "5",
        });
        for (var i = 0; i < 5; i++)
        {
            using var refused = await SendAsync(gateway, HttpMethod.Get, "admin/orgs", Wrong, $"198.51.100.{i + 1}");
            Assert.That(refused.StatusCode, Is.EqualTo(HttpStatusCode.Unauthorized), $"attempt {i + 1}");
        }

        using var fresh = await SendAsync(gateway, HttpMethod.Get, "admin/orgs", GatewayHost.AdminToken, "192.0.2.1");
        await AssertThrottledAsync(fresh);
    }

    [Test]
    public async Task Throttle_RequestsWithoutToken_NeverLockTheRightTokenOut()
    {
        await using var gateway = await GatewayHost.StartAsync(new Dictionary<string, string?>
        {
            ["Gateway:Admin:FailedAttempts:PermitLimit"] = "3",
            ["Gateway:Admin:GlobalFailedAttempts:PermitLimit"] = "3",
        });
        using var anonymous = new HttpClient { BaseAddress = gateway.AdminUrl };
        for (var i = 0; i < 12; i++)
        {
            using var refused = await anonymous.GetAsync("admin/orgs");
            Assert.That(refused.StatusCode, Is.EqualTo(HttpStatusCode.Unauthorized), $"request {i + 1}");
        }

        // An Authorization header that holds no bearer token presents nothing either.
        foreach (var header in new[] { "", "Bearer", "Bearer ", "Basic", "Basic dXNlcjpwYXNz", "Token abc" })
        {
            for (var i = 0; i < 4; i++)
            {
                using var request = new HttpRequestMessage(HttpMethod.Get, "admin/orgs");
                request.Headers.TryAddWithoutValidation("Authorization", header);
                using var refused = await anonymous.SendAsync(request);
                Assert.That(refused.StatusCode, Is.EqualTo(HttpStatusCode.Unauthorized), $"'{header}', request {i + 1}");
            }
        }

        using var operatorCall = await gateway.Admin.GetAsync("admin/orgs");
        Assert.That(operatorCall.StatusCode, Is.EqualTo(HttpStatusCode.OK));
    }

    [TestCase("cross-site", null)]
    [TestCase("same-site", null)]
    [TestCase(null, "http://evil.example")]
    [TestCase(null, "null")]
    public async Task CrossSite_BrowserRequestFromAnotherSite_403AndNotCounted(string? fetchSite, string? origin)
    {
        await using var gateway = await GatewayHost.StartAsync(new Dictionary<string, string?>
        {
            ["Gateway:Admin:FailedAttempts:PermitLimit"] = "1",
        });
        foreach (var token in new[] { GatewayHost.AdminToken, Wrong, null })
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, "admin/orgs") { Content = JsonContent.Create(new { id = "acme" }) };
            if (token is not null)
            {
                request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
            }

            if (fetchSite is not null)
            {
                request.Headers.Add("Sec-Fetch-Site", fetchSite);
            }

            if (origin is not null)
            {
                request.Headers.Add("Origin", origin);
            }

            using var anonymous = new HttpClient { BaseAddress = gateway.AdminUrl };
            using var refused = await anonymous.SendAsync(request);
            Assert.That(refused.StatusCode, Is.EqualTo(HttpStatusCode.Forbidden));
            Assert.That((await GatewayHost.ProblemAsync(refused))["code"]!.GetValue<string>(), Is.EqualTo("admin_cross_site"));
        }

        using var list = await gateway.Admin.GetAsync("admin/orgs");
        Assert.That(list.StatusCode, Is.EqualTo(HttpStatusCode.OK), "refused before the token check: nothing was counted, nothing created");
        Assert.That((await list.Content.ReadFromJsonAsync<JsonObject>())!["items"]!.AsArray(), Is.Empty);
    }

    [TestCase("same-origin", null)]
    [TestCase("none", null)]
    [TestCase(null, "self")]
    [TestCase("same-origin", "self")]
    public async Task CrossSite_SameOriginOrTypedRequest_Allowed(string? fetchSite, string? origin)
    {
        await using var gateway = await GatewayHost.StartAsync();
        using var request = new HttpRequestMessage(HttpMethod.Post, "admin/orgs") { Content = JsonContent.Create(new { id = "acme" }) };
        if (fetchSite is not null)
        {
            request.Headers.Add("Sec-Fetch-Site", fetchSite);
        }

        if (origin is not null)
        {
            request.Headers.Add("Origin", gateway.AdminUrl.GetLeftPart(UriPartial.Authority));
        }

        using var created = await gateway.Admin.SendAsync(request);
        Assert.That(created.StatusCode, Is.EqualTo(HttpStatusCode.Created));
    }

    [Test]
    public async Task Responses_CarryingPlaintextKey_AreNoStore()
    {
        await using var gateway = await GatewayHost.StartAsync();
        using var org = await gateway.Admin.PostAsJsonAsync("admin/orgs", new { id = "acme" });
        Assert.That(org.StatusCode, Is.EqualTo(HttpStatusCode.Created));
        Assert.That(org.Headers.CacheControl?.NoStore, Is.True, "create org");
        var defaultKeyId = (await org.Content.ReadFromJsonAsync<JsonObject>())!["defaultKey"]!["id"]!.GetValue<string>();

        using var key = await gateway.Admin.PostAsJsonAsync("admin/orgs/acme/keys", new { name = "ci" });
        Assert.That(key.StatusCode, Is.EqualTo(HttpStatusCode.Created));
        Assert.That(key.Headers.CacheControl?.NoStore, Is.True, "create key");

        using var rotated = await gateway.Admin.PostAsync($"admin/keys/{defaultKeyId}/rotate", null);
        Assert.That(rotated.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        Assert.That(rotated.Headers.CacheControl?.NoStore, Is.True, "rotate");
    }

    [TestCase("admin/orgs", true, HttpStatusCode.OK)]
    [TestCase("admin/orgs", false, HttpStatusCode.Unauthorized)]
    [TestCase("admin/orgs/nope", true, HttpStatusCode.NotFound)]
    [TestCase("admin/auth/providers", false, HttpStatusCode.OK)]
    [TestCase("admin/auth/oidc/login?returnUrl=https://evil.example/", false, HttpStatusCode.NotFound)]
    [TestCase("openapi/v1.json", false, HttpStatusCode.OK)]
    [TestCase("healthz", false, HttpStatusCode.OK)]
    [TestCase("readyz", false, HttpStatusCode.OK)]
    [TestCase("metrics", false, HttpStatusCode.OK)]
    [TestCase("console/", false, HttpStatusCode.OK)]
    [TestCase("no/such/path", false, HttpStatusCode.NotFound)]
    public async Task AdminListener_EveryResponse_Nosniff(string path, bool withToken, HttpStatusCode status)
    {
        // A JSON or text answer a browser sniffed as HTML would run whatever an attacker got into it (a key's
        // description, a customer name) with the admin origin's rights.
        await using var gateway = await GatewayHost.StartAsync();
        using var client = new HttpClient { BaseAddress = gateway.AdminUrl };
        using var request = new HttpRequestMessage(HttpMethod.Get, path);
        if (withToken)
        {
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", GatewayHost.AdminToken);
        }

        using var response = await client.SendAsync(request);

        Assert.That(response.StatusCode, Is.EqualTo(status));
        Assert.That(response.Headers.TryGetValues("X-Content-Type-Options", out var values) ? string.Join(",", values) : null, Is.EqualTo("nosniff"));
    }

    [Test]
    public async Task OpenApi_HostHeader_NotEchoedIntoServers()
    {
        await using var gateway = await GatewayHost.StartAsync();
        using var request = new HttpRequestMessage(HttpMethod.Get, "openapi/v1.json");
        request.Headers.Host = "attacker.example";

        using var response = await gateway.Admin.SendAsync(request);

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        var body = await response.Content.ReadAsStringAsync();
        Assert.That(body, Does.Not.Contain("attacker.example"));
        var servers = JsonNode.Parse(body)!["servers"];
        Assert.That(servers is null || servers.AsArray().Count == 0, Is.True, servers?.ToJsonString());
    }

    [TestCase(StoreKind.Sqlite)]
    [TestCase(StoreKind.Redis)]
    public async Task Revoke_ClientDisconnectsMidCall_KeyEndsRevoked(StoreKind kind)
    {
        SlowUpdateStore store = null!;
        await using var gateway = await GatewayHost.StartAsync(store: kind, services: services =>
        {
            services.AddHttpContextAccessor();
            services.AddSingleton<IGatewayStore>(sp => store = new SlowUpdateStore(
                kind == StoreKind.Redis
                    ? ActivatorUtilities.CreateInstance<Gateway.Stores.Redis.RedisGatewayStore>(sp)
                    : ActivatorUtilities.CreateInstance<Gateway.Stores.Sqlite.SqliteGatewayStore>(sp),
                sp.GetRequiredService<IHttpContextAccessor>()));
        });
        await gateway.CreateOrgAsync("acme");
        var key = await gateway.CreateKeyAsync("acme", new { name = "leaked" });
        var id = key["id"]!.GetValue<string>();
        store.Slow = true;

        using var client = new HttpClient(new SocketsHttpHandler()) { BaseAddress = gateway.AdminUrl };
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", GatewayHost.AdminToken);
        using var hangUp = new CancellationTokenSource();
        var call = client.PostAsync($"admin/keys/{id}/revoke", null, hangUp.Token);
        await store.Entered.Task.WaitAsync(TimeSpan.FromSeconds(10));
        await hangUp.CancelAsync();
        Assert.CatchAsync<OperationCanceledException>(async () => await call);

        // The store goes on only once the gateway has seen the client leave (see SlowUpdateStore).
        await store.Finished.Task.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.That(store.ClientGone, Is.True, "the disconnect landed mid-call");
        var stored = await gateway.AdminGetAsync($"admin/keys/{id}");
        Assert.That(stored["status"]!.GetValue<string>(), Is.EqualTo("revoked"));
    }

    private static async Task<HttpResponseMessage> SendAsync(GatewayHost gateway, HttpMethod method, string path, string token, string forwardedFor, object? body = null)
    {
        using var client = new HttpClient { BaseAddress = gateway.AdminUrl };
        using var request = new HttpRequestMessage(method, path);
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        request.Headers.Add("X-Forwarded-For", forwardedFor);
        if (body is not null)
        {
            request.Content = JsonContent.Create(body);
        }

        var response = await client.SendAsync(request);
        await response.Content.LoadIntoBufferAsync();
        return response;
    }

    private static async Task AssertThrottledAsync(HttpResponseMessage response)
    {
        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.TooManyRequests));
        Assert.That((await GatewayHost.ProblemAsync(response))["code"]!.GetValue<string>(), Is.EqualTo("admin_throttled"));
        Assert.That(response.Headers.RetryAfter?.Delta, Is.GreaterThan(TimeSpan.Zero));
    }

    /// <summary>
    /// While <see cref="Slow"/>, a key update waits until the admin request that made it has been aborted by
    /// its client, then honours the token it was given: a write tied to the client's connection is cancelled,
    /// one with its own server-side bound goes through.
    /// </summary>
    private sealed class SlowUpdateStore(IGatewayStore inner, IHttpContextAccessor http) : DelegatingGatewayStore(inner)
    {
        public bool Slow { get; set; }

        public bool ClientGone { get; private set; }

        public TaskCompletionSource Entered { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public TaskCompletionSource Finished { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public override async Task UpdateKeyAsync(ApiKeyRecord key, long expectedVersion, AuditEntry audit, CancellationToken cancellationToken)
        {
            if (!Slow)
            {
                await Inner.UpdateKeyAsync(key, expectedVersion, audit, cancellationToken);
                return;
            }

            try
            {
                var aborted = http.HttpContext!.RequestAborted;
                var gone = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                using (aborted.Register(() => gone.TrySetResult()))
                {
                    Entered.TrySetResult();
                    await gone.Task.WaitAsync(TimeSpan.FromSeconds(10), CancellationToken.None);
                }

                ClientGone = true;
                // A real store call in flight observes its token here.
                await Task.Delay(TimeSpan.FromMilliseconds(50), cancellationToken);
                await Inner.UpdateKeyAsync(key, expectedVersion, audit, cancellationToken);
            }
            finally
            {
                Finished.TrySetResult();
            }
        }
    }
}
