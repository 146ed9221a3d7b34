using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Gateway.Keys;
using Gateway.Stores;
using Gateway.Tests.Common;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;

namespace Gateway.Tests.EndToEnd;

/// <summary>
/// Every lifecycle transition and refusal (docs/keys.md, docs/admin-api.md), checked both in the admin response
/// and in what a proxied request with the key gets afterwards. Time is a fake clock moved by the tests.
/// </summary>
[TestFixtureSource(typeof(StoreKinds), nameof(StoreKinds.All))]
public sealed class KeyLifecycleTests(StoreKind store) : GatewayFixture(store)
{
    private readonly FakeTimeProvider _time = new(DateTimeOffset.UtcNow);

    protected override Dictionary<string, string?> Settings(string upstream) =>
        GatewayHost.Routes(upstream, ("api", "/api/{**rest}", []), ("writes", "/writes/{**rest}", [("RequiredScopes", "write")]));

    protected override void ConfigureServices(IServiceCollection services) => services.AddSingleton<TimeProvider>(_time);

    [SetUp]
    public void ResetUpstream() => Upstream.Reset();

    [Test]
    public async Task Rotate_KeepsIdAndSettings_OldPlaintextRejectedAtOnce()
    {
        var org = await NewOrgAsync();
        var created = await Host.CreateKeyAsync(org, new { name = "svc", scopes = new[] { "read", "write" }, environment = "production", customerId = "c1", description = "d", rateLimit = new { permitLimit = 50, window = "00:00:30" } });
        var oldKey = Plaintext(created);
        Assert.That(await Host.StatusAsync(oldKey), Is.EqualTo(HttpStatusCode.OK));

        var rotated = await Host.AdminPostAsync($"admin/keys/{Id(created)}/rotate");

        var newKey = Plaintext(rotated);
        Assert.Multiple(() =>
        {
            Assert.That(newKey, Is.Not.EqualTo(oldKey));
            Assert.That(rotated.Str("id"), Is.EqualTo(Id(created)));
            Assert.That(rotated.Str("prefix"), Is.EqualTo(newKey[..14]));
            foreach (var field in new[] { "name", "scopes", "environment", "customerId", "description", "rateLimit", "createdAt" })
            {
                Assert.That(rotated[field]!.ToJsonString(), Is.EqualTo(created[field]!.ToJsonString()), field);
            }

            Assert.That(rotated["previousKeyExpiresAt"], Is.Null);
        });
        Assert.That(await Host.CodeAsync(oldKey), Is.EqualTo("invalid_key"));
        Assert.That(await Host.StatusAsync(newKey), Is.EqualTo(HttpStatusCode.OK));
        Assert.That((await GetKeyAsync(Id(created)))["key"], Is.Null, "plaintext only in the rotate response");
    }

    [Test]
    public async Task Rotate_WithGracePeriod_OldPlaintextWorksUntilThenShownOnKey()
    {
        var org = await NewOrgAsync();
        var created = await Host.CreateKeyAsync(org, new { name = "svc" });
        var oldKey = Plaintext(created);

        var rotated = await Host.AdminPostAsync($"admin/keys/{Id(created)}/rotate", new { gracePeriod = "00:10:00" });

        var graceEnd = rotated["previousKeyExpiresAt"]!.GetValue<DateTimeOffset>();
        Assert.That(graceEnd, Is.EqualTo(_time.GetUtcNow() + TimeSpan.FromMinutes(10)).Within(TimeSpan.FromSeconds(1)));
        Assert.That(await Host.StatusAsync(oldKey), Is.EqualTo(HttpStatusCode.OK));
        Assert.That(await Host.StatusAsync(Plaintext(rotated)), Is.EqualTo(HttpStatusCode.OK));

        _time.Advance(TimeSpan.FromMinutes(10) + TimeSpan.FromSeconds(1));

        Assert.That(await Host.CodeAsync(oldKey), Is.EqualTo("invalid_key"));
        Assert.That(await Host.StatusAsync(Plaintext(rotated)), Is.EqualTo(HttpStatusCode.OK));
        Assert.That((await GetKeyAsync(Id(created)))["previousKeyExpiresAt"], Is.Null);
    }

    [Test]
    public async Task Rotate_GracePeriodNull_SameAsAbsent_NoGrace()
    {
        var org = await NewOrgAsync();
        var created = await Host.CreateKeyAsync(org, new { name = "svc" });

        var rotated = await Host.AdminPostAsync($"admin/keys/{Id(created)}/rotate", new { gracePeriod = (string?)null });

        Assert.That(rotated["previousKeyExpiresAt"], Is.Null);
        Assert.That(await Host.CodeAsync(Plaintext(created)), Is.EqualTo("invalid_key"));
    }

    [TestCase("7.00:00:01")]
    [TestCase("-00:00:01")]
    [TestCase("ten minutes")]
    public async Task Rotate_BadGracePeriod_Returns400NamingField(string grace)
    {
        var org = await NewOrgAsync();
        var created = await Host.CreateKeyAsync(org, new { name = "svc" });

        using var response = await Host.Admin.PostAsJsonAsync($"admin/keys/{Id(created)}/rotate", new { gracePeriod = grace });

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.BadRequest));
        Assert.That((await GatewayHost.ProblemAsync(response))["errors"]!["gracePeriod"], Is.Not.Null);
        Assert.That(await Host.StatusAsync(Plaintext(created)), Is.EqualTo(HttpStatusCode.OK), "a refused rotate changes nothing");
    }

    [Test]
    public async Task DeactivateActivate_TakeEffectImmediately()
    {
        var org = await NewOrgAsync();
        var created = await Host.CreateKeyAsync(org, new { name = "svc" });
        var key = Plaintext(created);
        Assert.That(await Host.StatusAsync(key), Is.EqualTo(HttpStatusCode.OK));

        var deactivated = await Host.AdminPostAsync($"admin/keys/{Id(created)}/deactivate");
        Assert.That(deactivated.Str("status"), Is.EqualTo("inactive"));
        Assert.That(await Host.CodeAsync(key), Is.EqualTo("key_inactive"));

        var activated = await Host.AdminPostAsync($"admin/keys/{Id(created)}/activate");
        Assert.That(activated.Str("status"), Is.EqualTo("active"));
        Assert.That(await Host.StatusAsync(key), Is.EqualTo(HttpStatusCode.OK));
    }

    [TestCase("deactivate")]
    [TestCase("activate")]
    [TestCase("revoke")]
    public async Task DefaultKey_DeactivateActivateRevoke_Returns409AndKeepsWorking(string action)
    {
        var org = await NewOrgWithDefaultKeyAsync();
        var defaultKey = org["defaultKey"]!.AsObject();

        using var response = await Host.Admin.PostAsync($"admin/keys/{Id(defaultKey)}/{action}", null);

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.Conflict));
        Assert.That((await GatewayHost.ProblemAsync(response)).Str("code"), Is.EqualTo("conflict"));
        Assert.That(await Host.StatusAsync(Plaintext(defaultKey)), Is.EqualTo(HttpStatusCode.OK));
    }

    [Test]
    public async Task DefaultKey_IsNamedDefaultAndRotatable()
    {
        var org = await NewOrgWithDefaultKeyAsync();
        var defaultKey = org["defaultKey"]!.AsObject();
        Assert.That(defaultKey.Str("name"), Is.EqualTo("default"));
        Assert.That(defaultKey["isDefault"]!.GetValue<bool>(), Is.True);
        Assert.That(defaultKey.Str("status"), Is.EqualTo("active"));

        var rotated = await Host.AdminPostAsync($"admin/keys/{Id(defaultKey)}/rotate");

        Assert.That(rotated["isDefault"]!.GetValue<bool>(), Is.True);
        Assert.That(await Host.CodeAsync(Plaintext(defaultKey)), Is.EqualTo("invalid_key"));
        Assert.That(await Host.StatusAsync(Plaintext(rotated)), Is.EqualTo(HttpStatusCode.OK));
    }

    [Test]
    public async Task Revoke_IsPermanent_RowKeptNameReusable()
    {
        var org = await NewOrgAsync();
        var created = await Host.CreateKeyAsync(org, new { name = "svc" });

        var revoked = await Host.AdminPostAsync($"admin/keys/{Id(created)}/revoke");

        Assert.That(revoked.Str("status"), Is.EqualTo("revoked"));
        Assert.That(revoked["revokedAt"], Is.Not.Null);
        Assert.That(await Host.CodeAsync(Plaintext(created)), Is.EqualTo("key_revoked"));
        foreach (var action in new[] { "activate", "deactivate", "rotate" })
        {
            using var refused = await Host.Admin.PostAsync($"admin/keys/{Id(created)}/{action}", null);
            Assert.That(refused.StatusCode, Is.EqualTo(HttpStatusCode.Conflict), action);
        }

        using (var patch = await Host.Admin.PatchAsJsonAsync($"admin/keys/{Id(created)}", new { description = "x" }))
        {
            Assert.That(patch.StatusCode, Is.EqualTo(HttpStatusCode.Conflict));
        }

        var list = await Host.AdminGetAsync($"admin/orgs/{org}/keys");
        var row = list["items"]!.AsArray().Single(k => k!.Str("id") == Id(created))!;
        Assert.That(row.Str("status"), Is.EqualTo("revoked"));

        var again = await Host.CreateKeyAsync(org, new { name = "svc" });
        Assert.That(Id(again), Is.Not.EqualTo(Id(created)));
        Assert.That(await Host.StatusAsync(Plaintext(again)), Is.EqualTo(HttpStatusCode.OK));
        Assert.That(await Host.CodeAsync(Plaintext(created)), Is.EqualTo("key_revoked"));
    }

    [Test]
    public async Task Revoke_DuringRotationGrace_KillsBothPlaintexts()
    {
        var org = await NewOrgAsync();
        var created = await Host.CreateKeyAsync(org, new { name = "svc" });
        var rotated = await Host.AdminPostAsync($"admin/keys/{Id(created)}/rotate", new { gracePeriod = "01:00:00" });

        await Host.AdminPostAsync($"admin/keys/{Id(created)}/revoke");

        Assert.That(await Host.StatusAsync(Plaintext(created)), Is.EqualTo(HttpStatusCode.Unauthorized));
        Assert.That(await Host.CodeAsync(Plaintext(rotated)), Is.EqualTo("key_revoked"));
    }

    [Test]
    public async Task Expiry_EnforcedToTheSecond_PatchExtendsAndClears()
    {
        var org = await NewOrgAsync();
        var expiresAt = _time.GetUtcNow().AddSeconds(30);
        var created = await Host.CreateKeyAsync(org, new { name = "svc", expiresAt = expiresAt.ToString("O") });
        var key = Plaintext(created);

        _time.Advance(TimeSpan.FromSeconds(29));
        Assert.That(await Host.StatusAsync(key), Is.EqualTo(HttpStatusCode.OK));

        _time.Advance(TimeSpan.FromSeconds(1));
        Assert.That(await Host.CodeAsync(key), Is.EqualTo("key_expired"));
        Assert.That((await GetKeyAsync(Id(created))).Str("status"), Is.EqualTo("expired"));

        var extended = await PatchAsync(Id(created), new { expiresAt = _time.GetUtcNow().AddHours(1).ToString("O") });
        Assert.That(extended.Str("status"), Is.EqualTo("active"));
        Assert.That(await Host.StatusAsync(key), Is.EqualTo(HttpStatusCode.OK));

        var cleared = await PatchAsync(Id(created), new { expiresAt = (string?)null });
        Assert.That(cleared["expiresAt"], Is.Null);
        _time.Advance(TimeSpan.FromDays(400));
        Assert.That(await Host.StatusAsync(key), Is.EqualTo(HttpStatusCode.OK));
    }

    [Test]
    public async Task Patch_ChangesTakeEffectOnNextRequest()
    {
        var org = await NewOrgAsync();
        var created = await Host.CreateKeyAsync(org, new { name = "svc", scopes = new[] { "read" } });
        var key = Plaintext(created);
        Assert.That(await Host.CodeAsync(key, "/writes/x"), Is.EqualTo("insufficient_scope"));

        var patched = await PatchAsync(Id(created), new { name = "svc_renamed", description = "new", scopes = new[] { "read", "write" }, customerId = "cust_9", rateLimit = new { permitLimit = 10, window = "00:01:00" } });

        Assert.That(patched.Str("name"), Is.EqualTo("svc_renamed"));
        Assert.That(patched["rateLimit"]!["permitLimit"]!.GetValue<int>(), Is.EqualTo(10));
        Upstream.Reset();
        Assert.That(await Host.StatusAsync(key, "/writes/x"), Is.EqualTo(HttpStatusCode.OK));
        var headers = Upstream.SingleRequestHeaders();
        Assert.That(headers["X-Key-Name"], Is.EqualTo("svc_renamed"));
        Assert.That(headers["X-Key-Scopes"], Is.EqualTo("read write"));
        Assert.That(headers["X-Customer-Id"], Is.EqualTo("cust_9"));

        var cleared = await PatchAsync(Id(created), new { customerId = (string?)null, rateLimit = (object?)null, description = (string?)null });
        Assert.That(cleared["customerId"], Is.Null);
        Assert.That(cleared["rateLimit"], Is.Null);
        Upstream.Reset();
        Assert.That(await Host.StatusAsync(key), Is.EqualTo(HttpStatusCode.OK));
        Assert.That(Upstream.SingleRequestHeaders().ContainsKey("X-Customer-Id"), Is.False);
    }

    [Test]
    public async Task Patch_InvalidValues_Return400AndChangeNothing()
    {
        var org = await NewOrgAsync();
        var created = await Host.CreateKeyAsync(org, new { name = "svc", scopes = new[] { "read" } });
        await Host.CreateKeyAsync(org, new { name = "taken" });

        foreach (var (body, field) in new (object Body, string Field)[]
        {
            (new { scopes = new[] { "nope" } }, "scopes"),
            (new { name = "bad-name" }, "name"),
            (new { expiresAt = _time.GetUtcNow().AddSeconds(-1).ToString("O") }, "expiresAt"),
            (new { environment = "staging" }, "environment"),
            (new { rateLimit = new { permitLimit = 0, window = "00:01:00" } }, "rateLimit.permitLimit"),
        })
        {
            using var response = await Host.Admin.PatchAsJsonAsync($"admin/keys/{Id(created)}", body);
            Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.BadRequest), field);
            Assert.That((await GatewayHost.ProblemAsync(response))["errors"]![field], Is.Not.Null, field);
        }

        using (var conflict = await Host.Admin.PatchAsJsonAsync($"admin/keys/{Id(created)}", new { name = "taken" }))
        {
            Assert.That(conflict.StatusCode, Is.EqualTo(HttpStatusCode.Conflict));
        }

        var after = await GetKeyAsync(Id(created));
        Assert.That(after.Str("name"), Is.EqualTo("svc"));
        Assert.That(after["scopes"]!.ToJsonString(), Is.EqualTo("[\"read\"]"));
    }

    [Test]
    public async Task LastUsedAt_SetByUse_FlushedToStoreWithoutPerRequestWrites()
    {
        var org = await NewOrgAsync();
        var created = await Host.CreateKeyAsync(org, new { name = "svc" });
        Assert.That(created["lastUsedAt"], Is.Null);

        Assert.That(await Host.StatusAsync(Plaintext(created)), Is.EqualTo(HttpStatusCode.OK));
        var usedAt = _time.GetUtcNow();

        var shown = (await GetKeyAsync(Id(created)))["lastUsedAt"]!.GetValue<DateTimeOffset>();
        Assert.That(shown, Is.EqualTo(usedAt).Within(TimeSpan.FromSeconds(1)));

        var gatewayStore = Host.Services.GetRequiredService<IGatewayStore>();
        Assert.That((await gatewayStore.GetKeyAsync(Id(created), CancellationToken.None))!.LastUsedAt, Is.Null, "no store write on the request path");

        await Host.Services.GetRequiredService<KeyUsageTracker>().FlushAsync(CancellationToken.None);

        var stored = (await gatewayStore.GetKeyAsync(Id(created), CancellationToken.None))!.LastUsedAt;
        Assert.That(stored, Is.EqualTo(usedAt).Within(TimeSpan.FromSeconds(1)));
    }

    [Test]
    public async Task Audit_RecordsWhoWhatWhen_NewestFirst_Paginated_NoKeyMaterial()
    {
        var org = await NewOrgAsync();
        var created = await Host.CreateKeyAsync(org, new { name = "svc", createdBy = "alice" });
        using (var request = new HttpRequestMessage(HttpMethod.Post, $"admin/keys/{Id(created)}/rotate"))
        {
            request.Headers.Add("X-Admin-Actor", "bob");
            using var response = await Host.Admin.SendAsync(request);
            Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        }

        await PatchAsync(Id(created), new { scopes = new[] { "read" } });
        await Host.AdminPostAsync($"admin/keys/{Id(created)}/revoke");

        using var page1 = await Host.Admin.GetAsync($"admin/audit?org={org}&limit=2");
        var text = await page1.Content.ReadAsStringAsync();
        var first = JsonNode.Parse(text)!.AsObject();
        var items = first["items"]!.AsArray();
        Assert.That(items.Select(i => i!.Str("action")), Is.EqualTo(new[] { "key.revoke", "key.update" }));
        var update = items[1]!;
        Assert.That(update["changes"]!["scopes"]!["before"]!.ToJsonString(), Is.EqualTo("[\"*\"]"));
        Assert.That(update["changes"]!["scopes"]!["after"]!.ToJsonString(), Is.EqualTo("[\"read\"]"));

        var page2 = await Host.AdminGetAsync($"admin/audit?org={org}&limit=2&cursor={first.Str("nextCursor")}");
        var older = page2["items"]!.AsArray();
        Assert.That(older.Select(i => i!.Str("action")), Is.EqualTo(new[] { "key.rotate", "key.create" }));
        Assert.That(older[0]!.Str("actor"), Is.EqualTo("bob"));
        Assert.That(older[1]!.Str("actor"), Is.EqualTo("alice"));
        Assert.That(older[1]!.Str("keyId"), Is.EqualTo(Id(created)));

        var all = text + page2.ToJsonString();
        Assert.That(all, Does.Not.Contain(Plaintext(created)));
        Assert.That(all, Does.Not.Contain(ApiKeyFormat.Hash(Plaintext(created))));
    }

    [TestCase("rotate")]
    [TestCase("revoke")]
    [TestCase("deactivate")]
    public async Task DeadKey_NeverReachesUpstreamAfterAdminCallReturns(string action)
    {
        var org = await NewOrgAsync();
        var created = await Host.CreateKeyAsync(org, new { name = "svc" });
        var key = Plaintext(created);
        long returnedAt = long.MaxValue;
        var results = new System.Collections.Concurrent.ConcurrentBag<(long Started, int Seq, HttpStatusCode Status)>();
        using var stop = new CancellationTokenSource();
        var seq = 0;

        async Task HammerAsync()
        {
            while (!stop.IsCancellationRequested)
            {
                var n = Interlocked.Increment(ref seq);
                var started = System.Diagnostics.Stopwatch.GetTimestamp();
                using var response = await Host.CallAsync("/api/x", key, r => r.Headers.Add("X-Seq", n.ToString(System.Globalization.CultureInfo.InvariantCulture)));
                results.Add((started, n, response.StatusCode));
            }
        }

        var hammers = Enumerable.Range(0, 4).Select(_ => Task.Run(HammerAsync)).ToArray();
        try
        {
            await GatewayHost.WaitForAsync(() => Task.FromResult(results.Count(r => r.Status == HttpStatusCode.OK) >= 20), TimeSpan.FromSeconds(30));

            await Host.AdminPostAsync($"admin/keys/{Id(created)}/{action}");
            Interlocked.Exchange(ref returnedAt, System.Diagnostics.Stopwatch.GetTimestamp());
            await GatewayHost.WaitForAsync(() => Task.FromResult(results.Count(r => r.Started > Interlocked.Read(ref returnedAt)) >= 50), TimeSpan.FromSeconds(30));
        }
        finally
        {
            await stop.CancelAsync();
            await Task.WhenAll(hammers);
        }

        var after = results.Where(r => r.Started > returnedAt).ToList();
        Assert.That(after, Has.Count.GreaterThanOrEqualTo(50));
        Assert.That(after.Where(r => r.Status != HttpStatusCode.Unauthorized), Is.Empty, "requests started after the admin call returned must be refused");
        var afterSeqs = after.Select(r => r.Seq.ToString(System.Globalization.CultureInfo.InvariantCulture)).ToHashSet();
        var leaked = Upstream.Received.Where(e => e.RequestMessage.Headers!.TryGetValue("X-Seq", out var v) && afterSeqs.Contains(v.First())).ToList();
        Assert.That(leaked, Is.Empty, "no request started after the admin call returned reached the upstream");
    }

    private async Task<JsonObject> GetKeyAsync(string id) => await Host.AdminGetAsync($"admin/keys/{id}");

    private async Task<JsonObject> PatchAsync(string id, object body)
    {
        using var response = await Host.Admin.PatchAsJsonAsync($"admin/keys/{id}", body);
        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK), await response.Content.ReadAsStringAsync());
        return (await response.Content.ReadFromJsonAsync<JsonObject>())!;
    }

}
