using System.Net;
using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using Gateway.Tests.Common;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;
using StackExchange.Redis;

namespace Gateway.Tests.Operators;

/// <summary>Operator tokens end to end on each store: issue once, digest at rest, use, expiry, revocation, throttle.</summary>
[TestFixtureSource(typeof(StoreKinds), nameof(StoreKinds.All))]
public sealed class OperatorTokenTests(StoreKind store)
{
    [Test]
    public async Task CreateToken_ReturnsGwaTokenOnceWithNoStore_StoresOnlyItsDigest()
    {
        await using var gateway = await GatewayHost.StartAsync(store: store);
        using var response = await gateway.Admin.PostAsJsonAsync("admin/tokens", new { name = "alice", role = "viewer" });
        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.Created));
        Assert.That(response.Headers.CacheControl?.NoStore, Is.True);
        var created = (await response.Content.ReadFromJsonAsync<JsonObject>())!;
        var token = created["token"]!.GetValue<string>();
        Assert.That(token, Does.Match("^gwa_[0-9A-Za-z]{40}$"));
        Assert.That(created["role"]!.GetValue<string>(), Is.EqualTo("viewer"));
        Assert.That(created["org"], Is.Null);
        Assert.That(created["status"]!.GetValue<string>(), Is.EqualTo("active"));

        var listed = await gateway.AdminGetAsync("admin/tokens");
        var item = listed["items"]!.AsArray().Single()!.AsObject();
        Assert.That(item["id"]!.GetValue<string>(), Is.EqualTo(created["id"]!.GetValue<string>()));
        Assert.That(item.ContainsKey("token"), Is.False, "the plaintext is shown once");
        Assert.That(item.ToJsonString(), Does.Not.Contain(token));

        var digest = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(token)));
        var stored = await StoredTextAsync(gateway);
        Assert.That(stored, Does.Contain(digest));
        Assert.That(stored, Does.Not.Contain(token[4..]), "no plaintext at rest");
    }

    [Test]
    public async Task OperatorToken_Authenticates_AuditNamesIt_CreatedByDefaultsToIt_LastUsedRecorded()
    {
        await using var gateway = await GatewayHost.StartAsync(store: store);
        await gateway.CreateOrgAsync("acme");
        using var alice = await gateway.OperatorAsync("alice", "admin", "acme");
        alice.DefaultRequestHeaders.Add("X-Admin-Actor", "console");

        using var created = await alice.PostAsJsonAsync("admin/orgs/acme/keys", new { name = "svc" });
        Assert.That(created.StatusCode, Is.EqualTo(HttpStatusCode.Created));
        var key = (await created.Content.ReadFromJsonAsync<JsonObject>())!;
        Assert.That(key["createdBy"]!.GetValue<string>(), Is.EqualTo("alice"));

        var audit = await gateway.AdminGetAsync("admin/audit?org=acme");
        var entry = audit["items"]!.AsArray().First(e => e!["keyId"]?.GetValue<string>() == key["id"]!.GetValue<string>())!;
        Assert.That(entry["actor"]!.GetValue<string>(), Is.EqualTo("alice"), "X-Admin-Actor does not rename an operator");

        var listed = await gateway.AdminGetAsync("admin/tokens");
        Assert.That(listed["items"]!.AsArray().Single()!["lastUsedAt"], Is.Not.Null);
    }

    [Test]
    public async Task Me_NamesTheCaller_ForEveryRole_401WithoutToken()
    {
        await using var gateway = await GatewayHost.StartAsync(store: store);
        await gateway.CreateOrgAsync("acme");
        var bootstrap = await gateway.AdminGetAsync("admin/me");
        Assert.That(bootstrap["role"]!.GetValue<string>(), Is.EqualTo("owner"));
        Assert.That(bootstrap["via"]!.GetValue<string>(), Is.EqualTo("bootstrap"));
        Assert.That(bootstrap["org"], Is.Null);

        var created = await gateway.CreateTokenAsync("vera", "verifier", "acme");
        using var vera = gateway.ClientWith(created["token"]!.GetValue<string>());
        using var response = await vera.GetAsync("admin/me");
        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        var me = (await response.Content.ReadFromJsonAsync<JsonObject>())!;
        Assert.That(me["name"]!.GetValue<string>(), Is.EqualTo("vera"));
        Assert.That(me["role"]!.GetValue<string>(), Is.EqualTo("verifier"));
        Assert.That(me["org"]!.GetValue<string>(), Is.EqualTo("acme"));
        Assert.That(me["via"]!.GetValue<string>(), Is.EqualTo("token"));
        Assert.That(me["tokenId"]!.GetValue<string>(), Is.EqualTo(created["id"]!.GetValue<string>()));

        foreach (var role in new[] { "viewer", "admin", "owner" })
        {
            using var other = await gateway.OperatorAsync("op-" + role, role, "acme");
            var answer = await other.GetFromJsonAsync<JsonObject>("admin/me");
            Assert.That(answer!["role"]!.GetValue<string>(), Is.EqualTo(role));
        }

        using var anonymous = new HttpClient { BaseAddress = gateway.AdminUrl };
        using var refused = await anonymous.GetAsync("admin/me");
        Assert.That(refused.StatusCode, Is.EqualTo(HttpStatusCode.Unauthorized));
    }

    [Test]
    public async Task RevokeToken_StopsItOnThisInstanceAtOnce()
    {
        await using var gateway = await GatewayHost.StartAsync(store: store);
        var created = await gateway.CreateTokenAsync("bob", "viewer");
        using var bob = gateway.ClientWith(created["token"]!.GetValue<string>());
        using (var before = await bob.GetAsync("admin/orgs"))
        {
            Assert.That(before.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        }

        var revoked = await gateway.AdminPostAsync($"admin/tokens/{created["id"]!.GetValue<string>()}/revoke");
        Assert.That(revoked["status"]!.GetValue<string>(), Is.EqualTo("revoked"));
        using var after = await bob.GetAsync("admin/orgs");
        Assert.That(after.StatusCode, Is.EqualTo(HttpStatusCode.Unauthorized));
    }

    [Test]
    public async Task RevokeToken_OnOneInstance_OtherInstanceRefusesItWithinOneSecond()
    {
        var directory = Path.Combine(Path.GetTempPath(), "gw-tests", Guid.NewGuid().ToString("N"));
        var prefix = $"t{Guid.NewGuid():N}:";
        await using var first = await GatewayHost.StartAsync(store: store, directory: directory, redisPrefix: prefix);
        await using var second = await GatewayHost.StartAsync(store: store, directory: directory, redisPrefix: prefix);
        var created = await first.CreateTokenAsync("carol", "viewer");
        using var onSecond = second.ClientWith(created["token"]!.GetValue<string>());
        using (var warm = await onSecond.GetAsync("admin/orgs"))
        {
            Assert.That(warm.StatusCode, Is.EqualTo(HttpStatusCode.OK), "the second instance has it cached");
        }

        await first.AdminPostAsync($"admin/tokens/{created["id"]!.GetValue<string>()}/revoke");
        var inForceBy = DateTime.UtcNow + TimeSpan.FromSeconds(1);

        // The promise is about time itself: a call sent a second after the revocation is refused. Waiting for that
        // moment and then calling once cannot be failed by a slow machine, and repeated refused calls before it would
        // only meet the admin listener's limit on failed sign-ins.
        var wait = inForceBy - DateTime.UtcNow;
        if (wait > TimeSpan.Zero)
        {
            await Task.Delay(wait);
        }

        using var late = await onSecond.GetAsync("admin/orgs");
        Assert.That(late.StatusCode, Is.EqualTo(HttpStatusCode.Unauthorized));
    }

    [Test]
    public async Task ExpiredToken_Refused401()
    {
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        await using var gateway = await GatewayHost.StartAsync(store: store, services: s => s.AddSingleton<TimeProvider>(time));
        using var response = await gateway.Admin.PostAsJsonAsync("admin/tokens", new { name = "temp", role = "viewer", expiresAt = time.GetUtcNow().AddHours(1) });
        var token = (await response.Content.ReadFromJsonAsync<JsonObject>())!["token"]!.GetValue<string>();
        using var temp = gateway.ClientWith(token);
        using (var before = await temp.GetAsync("admin/orgs"))
        {
            Assert.That(before.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        }

        time.Advance(TimeSpan.FromHours(1));
        using var after = await temp.GetAsync("admin/orgs");
        Assert.That(after.StatusCode, Is.EqualTo(HttpStatusCode.Unauthorized));
        var listed = await gateway.AdminGetAsync("admin/tokens");
        Assert.That(listed["items"]!.AsArray().Single()!["status"]!.GetValue<string>(), Is.EqualTo("expired"));
    }

    [Test]
    public async Task WrongGwaTokens_CountTowardTheAdminThrottle()
    {
        await using var gateway = await GatewayHost.StartAsync(
            new Dictionary<string, string?> { ["Gateway:Admin:FailedAttempts:PermitLimit"] = "2" }, store: store);
        var valid = (await gateway.CreateTokenAsync("dave", "viewer"))["token"]!.GetValue<string>();
        for (var i = 0; i < 2; i++)
        {
            using var guesser = gateway.ClientWith("gwa_" + new string((char)('a' + i), 40));
            using var refused = await guesser.GetAsync("admin/orgs");
            Assert.That(refused.StatusCode, Is.EqualTo(HttpStatusCode.Unauthorized));
        }

        using var dave = gateway.ClientWith(valid);
        using var throttled = await dave.GetAsync("admin/orgs");
        Assert.That(throttled.StatusCode, Is.EqualTo(HttpStatusCode.TooManyRequests));
    }

    [Test]
    public async Task CreateToken_BadInput_400NamingTheField_DuplicateLiveName409()
    {
        await using var gateway = await GatewayHost.StartAsync(store: store);
        foreach (var (body, field) in new (object Body, string Field)[]
        {
            (new { role = "viewer" }, "name"),
            (new { name = "x", role = "root" }, "role"),
            (new { name = "x", role = "viewer", org = "bad org" }, "org"),
            (new { name = "x", role = "viewer", expiresAt = "2001-01-01T00:00:00Z" }, "expiresAt"),

            // The audit log's actors for the bootstrap token and for the gateway's own changes.
            (new { name = "admin", role = "viewer" }, "name"),
            (new { name = "Gateway", role = "viewer" }, "name"),
        })
        {
            using var response = await gateway.Admin.PostAsJsonAsync("admin/tokens", body);
            Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.BadRequest), field);
            Assert.That((await GatewayHost.ProblemAsync(response))["errors"]![field], Is.Not.Null, field);
        }

        using (var missingOrg = await gateway.Admin.PostAsJsonAsync("admin/tokens", new { name = "x", role = "viewer", org = "nope" }))
        {
            Assert.That(missingOrg.StatusCode, Is.EqualTo(HttpStatusCode.NotFound));
        }

        var first = await gateway.CreateTokenAsync("erin", "viewer");
        using (var duplicate = await gateway.Admin.PostAsJsonAsync("admin/tokens", new { name = "erin", role = "admin" }))
        {
            Assert.That(duplicate.StatusCode, Is.EqualTo(HttpStatusCode.Conflict));
        }

        await gateway.AdminPostAsync($"admin/tokens/{first["id"]!.GetValue<string>()}/revoke");
        await gateway.CreateTokenAsync("erin", "admin");
    }

    // Another organization's token names are not this one's to learn: a live name is unique within its organization
    // and among organization-less tokens (which act in every organization's audit log), not across organizations.
    [Test]
    public async Task TokenNames_UniquePerOrganization_AnotherOrganizationsNamesNeverConflict()
    {
        await using var gateway = await GatewayHost.StartAsync(store: store);
        await gateway.CreateOrgAsync("acme");
        await gateway.CreateOrgAsync("beta");
        var betaViewer = await gateway.CreateTokenAsync("viewer-1", "viewer", "beta");
        await gateway.CreateTokenAsync("ops", "viewer");

        async Task<HttpStatusCode> CreateAsync(string name, string? org)
        {
            using var response = await gateway.Admin.PostAsJsonAsync("admin/tokens", new { name, role = "viewer", org });
            return response.StatusCode;
        }

        Assert.That(await CreateAsync("viewer-1", "acme"), Is.EqualTo(HttpStatusCode.Created), "beta's name is free in acme");
        Assert.That(await CreateAsync("viewer-1", "acme"), Is.EqualTo(HttpStatusCode.Conflict), "but unique within acme");
        Assert.That(await CreateAsync("ops", "acme"), Is.EqualTo(HttpStatusCode.Conflict), "an organization-less token's name is taken everywhere");
        Assert.That(await CreateAsync("viewer-1", null), Is.EqualTo(HttpStatusCode.Conflict), "an organization-less token may not share an organization's name");

        // Revoking frees the name in its own organization only.
        await gateway.AdminPostAsync($"admin/tokens/{betaViewer["id"]!.GetValue<string>()}/revoke");
        Assert.That(await CreateAsync("viewer-1", "beta"), Is.EqualTo(HttpStatusCode.Created));
        Assert.That(await CreateAsync("viewer-1", null), Is.EqualTo(HttpStatusCode.Conflict), "acme's viewer-1 is live");
        var acmeViewer = (await gateway.AdminGetAsync("admin/tokens"))["items"]!.AsArray()
            .Where(t => t!["name"]!.GetValue<string>() == "viewer-1" && t["status"]!.GetValue<string>() == "active").ToList();
        foreach (var token in acmeViewer)
        {
            await gateway.AdminPostAsync($"admin/tokens/{token!["id"]!.GetValue<string>()}/revoke");
        }

        Assert.That(await CreateAsync("viewer-1", null), Is.EqualTo(HttpStatusCode.Created), "every organization's viewer-1 is revoked");
    }

    // What a create answers is what a later read shows: times at the store's precision (milliseconds), not the clock's.
    [Test]
    public async Task CreateAndRevokeAnswers_ShowTheTimesALaterReadShows()
    {
        await using var gateway = await GatewayHost.StartAsync(store: store);
        using var response = await gateway.Admin.PostAsJsonAsync("admin/tokens", new { name = "timekeeper", role = "viewer", expiresAt = "2030-01-31T00:00:00.1234567Z" });
        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.Created));
        var created = JsonNode.Parse(await response.Content.ReadAsStringAsync())!.AsObject();
        var id = created["id"]!.GetValue<string>();
        var revoked = await gateway.AdminPostAsync($"admin/tokens/{id}/revoke");

        var listed = (await gateway.AdminGetAsync("admin/tokens"))["items"]!.AsArray().Single(t => t!["id"]!.GetValue<string>() == id)!;
        foreach (var field in new[] { "createdAt", "expiresAt" })
        {
            Assert.That(created[field]!.GetValue<string>(), Is.EqualTo(listed[field]!.GetValue<string>()), field);
        }

        Assert.That(revoked["revokedAt"]!.GetValue<string>(), Is.EqualTo(listed["revokedAt"]!.GetValue<string>()));
    }

    private async Task<string> StoredTextAsync(GatewayHost gateway)
    {
        if (store == StoreKind.Sqlite)
        {
            await using var connection = new SqliteConnection($"Data Source={Path.Combine(gateway.Directory, "gateway.db")};Pooling=False");
            await connection.OpenAsync();
            await using var command = connection.CreateCommand();
            command.CommandText = "SELECT * FROM operator_tokens;";
            await using var reader = await command.ExecuteReaderAsync();
            var text = new StringBuilder();
            while (await reader.ReadAsync())
            {
                for (var i = 0; i < reader.FieldCount; i++)
                {
                    text.Append(reader.IsDBNull(i) ? "" : reader.GetValue(i).ToString()).Append('|');
                }
            }

            return text.ToString();
        }

        var prefix = gateway.Services.GetRequiredService<Microsoft.Extensions.Options.IOptions<Gateway.Configuration.GatewayOptions>>().Value.Store.RedisPrefix;
        var redis = gateway.Services.GetRequiredService<IConnectionMultiplexer>();
        var server = redis.GetServers().First();
        var all = new StringBuilder();
        foreach (var key in server.Keys(pattern: prefix + "*"))
        {
            all.Append((string?)key).Append('|');
            var type = await redis.GetDatabase().KeyTypeAsync(key);
            if (type == RedisType.Hash)
            {
                foreach (var entry in await redis.GetDatabase().HashGetAllAsync(key))
                {
                    all.Append(entry.Name).Append('=').Append(entry.Value).Append('|');
                }
            }
            else if (type == RedisType.String)
            {
                all.Append(await redis.GetDatabase().StringGetAsync(key)).Append('|');
            }
        }

        return all.ToString();
    }
}
