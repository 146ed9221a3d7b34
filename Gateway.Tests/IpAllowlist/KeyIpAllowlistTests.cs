using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Gateway.Cli;
using Gateway.Tests.Common;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.DependencyInjection;

namespace Gateway.Tests.IpAllowlist;

/// <summary>A key's <c>allowedCidrs</c> through a real gateway on each store; the client IP comes through a trusted proxy.</summary>
[TestFixtureSource(typeof(StoreKinds), nameof(StoreKinds.All))]
public sealed class KeyIpAllowlistTests(StoreKind store) : GatewayFixture(store)
{
    [OneTimeSetUp]
    public async Task CreateOrgAsync() => await Host.CreateOrgAsync("netorg");

    protected override Dictionary<string, string?> Settings(string upstream)
    {
        var settings = GatewayHost.Routes(upstream, ("open", "/api/{**rest}", []));
        // Loopback is the trusted proxy, so each test picks its client address with X-Forwarded-For.
        settings["Gateway:TrustedProxies:0"] = "127.0.0.1";
        return settings;
    }

    private async Task<(string Key, string Id, JsonObject Created)> CreateAsync(object cidrs, object? rateLimit = null)
    {
        var created = await Host.CreateKeyAsync("netorg", new { name = "k" + Guid.NewGuid().ToString("N")[..12], allowedCidrs = cidrs, rateLimit });
        return (created.Str("key"), created.Str("id"), created);
    }

    private Task<HttpResponseMessage> FromAsync(string key, string? clientIp) =>
        Host.CallAsync("/api/x", key, r =>
        {
            if (clientIp is not null)
            {
                r.Headers.Add("X-Forwarded-For", clientIp);
            }
        });

    private async Task<HttpResponseMessage> PatchAsync(string id, object body) =>
        await Host.Admin.PatchAsync($"admin/keys/{id}", JsonContent.Create(body));

    [Test]
    public async Task Invoke_ClientInsideAllowedCidrs_IsForwarded()
    {
        var (key, _, created) = await CreateAsync(new[] { "203.0.113.0/24", "2001:DB8::/32", "198.51.100.7" });

        Assert.That(created["allowedCidrs"]!.ToJsonString(), Is.EqualTo("[\"203.0.113.0/24\",\"2001:db8::/32\",\"198.51.100.7/32\"]"));
        using var v4 = await FromAsync(key, "203.0.113.200");
        using var v6 = await FromAsync(key, "2001:db8:1::5");
        using var single = await FromAsync(key, "198.51.100.7");
        Assert.That(v4.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        Assert.That(v6.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        Assert.That(single.StatusCode, Is.EqualTo(HttpStatusCode.OK));
    }

    [TestCase("198.51.100.8")]
    [TestCase("203.0.114.1")]
    [TestCase("2001:db9::1")]
    [TestCase(null)]
    public async Task Invoke_ClientOutsideAllowedCidrs_Returns403IpNotAllowed(string? clientIp)
    {
        var (key, _, _) = await CreateAsync(new[] { "203.0.113.0/24", "2001:db8::/32", "198.51.100.7/32" });
        Upstream.Reset();

        // null: no X-Forwarded-For, so the client is the loopback peer, which the list does not hold.
        using var response = await FromAsync(key, clientIp);

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.Forbidden));
        Assert.That((await GatewayHost.ProblemAsync(response)).Str("code"), Is.EqualTo("ip_not_allowed"));
        Assert.That(Upstream.Received, Is.Empty);
    }

    [Test]
    public async Task Invoke_SpoofedForwardedForFromUntrustedPeer_IsNotBelieved()
    {
        // The trusted proxy appends the real client; a client-written entry further left does not count.
        var (key, _, _) = await CreateAsync(new[] { "203.0.113.0/24" });

        using var response = await FromAsync(key, "203.0.113.5, 198.51.100.99");

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.Forbidden));
    }

    [Test]
    public async Task Patch_AllowedCidrs_AppliesAtOnceAuditedAndClears()
    {
        var (key, id, created) = await CreateAsync(Array.Empty<string>());
        Assert.That(created["allowedCidrs"]!.AsArray(), Is.Empty);
        using (var any = await FromAsync(key, "192.0.2.1"))
        {
            Assert.That(any.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        }

        using (var patch = await PatchAsync(id, new { allowedCidrs = new[] { "10.0.0.0/8" } }))
        {
            Assert.That(patch.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        }

        using (var refused = await FromAsync(key, "192.0.2.1"))
        using (var allowed = await FromAsync(key, "10.1.2.3"))
        {
            Assert.That(refused.StatusCode, Is.EqualTo(HttpStatusCode.Forbidden));
            Assert.That(allowed.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        }

        var audit = await Host.AdminGetAsync("admin/audit?org=netorg&limit=50");
        var update = audit["items"]!.AsArray().First(e => e!.Str("keyId") == id && e.Str("action") == "key.update")!;
        Assert.That(update["changes"]!["allowedCidrs"]!["after"]!.ToJsonString(), Is.EqualTo("[\"10.0.0.0/8\"]"));

        using (var clear = await PatchAsync(id, new { allowedCidrs = (string[]?)null }))
        {
            Assert.That(clear.StatusCode, Is.EqualTo(HttpStatusCode.OK));
            Assert.That((await clear.Content.ReadFromJsonAsync<JsonObject>())!["allowedCidrs"]!.AsArray(), Is.Empty);
        }

        using var again = await FromAsync(key, "192.0.2.1");
        Assert.That(again.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        var stored = await Host.AdminGetAsync($"admin/keys/{id}");
        Assert.That(stored["allowedCidrs"]!.AsArray(), Is.Empty);
    }

    [Test]
    public async Task Invoke_RefusedByAllowlist_DoesNotConsumeTheKeyLimit()
    {
        var (key, _, _) = await CreateAsync(new[] { "203.0.113.0/24" }, new { permitLimit = 2, window = "00:10:00" });

        for (var i = 0; i < 5; i++)
        {
            using var refused = await FromAsync(key, "192.0.2.50");
            Assert.That(refused.StatusCode, Is.EqualTo(HttpStatusCode.Forbidden));
        }

        using var first = await FromAsync(key, "203.0.113.1");
        using var second = await FromAsync(key, "203.0.113.1");
        using var third = await FromAsync(key, "203.0.113.1");
        Assert.That(first.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        Assert.That(second.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        Assert.That((int)third.StatusCode, Is.EqualTo(429));
    }

    [TestCase("10.0.0.1/8")]
    [TestCase("10.0.0.0/33")]
    [TestCase("::/129")]
    [TestCase("10.0.0.0/-1")]
    [TestCase("10.0.0.0/+8")]
    [TestCase("10.0.0.0/08")]
    [TestCase("10.0.0.0/8/8")]
    [TestCase("10.0.0.0/")]
    [TestCase("10")]
    [TestCase("10.1")]
    [TestCase("0x0a.0.0.0/8")]
    [TestCase("010.0.0.0/8")]
    [TestCase("256.0.0.0/8")]
    [TestCase(" 10.0.0.0/8")]
    [TestCase("10.0.0.0/8 ")]
    [TestCase("fe80::1%eth0/128")]
    [TestCase("abc")]
    [TestCase("")]
    [TestCase("١٠.0.0.0/8")]
    [TestCase("10.0.0.0\n/8")]
    [TestCase("*")]
    [TestCase("0.0.0.0/0; DROP TABLE keys")]
    [TestCase("::ffff:10.0.0.0/104")]
    [TestCase("::FFFF:a00:0/104")]
    [TestCase("::ffff:192.0.2.9")]
    [TestCase("::ffff:0.0.0.0/96")]
    public async Task CreateAndPatch_HostileCidr_Returns400NamingTheEntryAndChangesNothing(string cidr)
    {
        var (key, id, _) = await CreateAsync(new[] { "192.0.2.0/24" });

        using var create = await Host.Admin.PostAsJsonAsync("admin/orgs/netorg/keys", new { name = "hostile" + Guid.NewGuid().ToString("N")[..8], allowedCidrs = new[] { "192.0.2.0/24", cidr } });
        using var patch = await PatchAsync(id, new { allowedCidrs = new[] { "192.0.2.0/24", cidr } });

        foreach (var response in new[] { create, patch })
        {
            Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.BadRequest));
            Assert.That(await response.Content.ReadAsStringAsync(), Does.Contain("allowedCidrs"));
        }

        var stored = await Host.AdminGetAsync($"admin/keys/{id}");
        Assert.That(stored["allowedCidrs"]!.ToJsonString(), Is.EqualTo("[\"192.0.2.0/24\"]"));
        using var still = await FromAsync(key, "192.0.2.9");
        Assert.That(still.StatusCode, Is.EqualTo(HttpStatusCode.OK));
    }

    [Test]
    public async Task Create_Ipv4MappedCidr_Returns400NamingTheEntryAndTheIpv4Form()
    {
        using var response = await Host.Admin.PostAsJsonAsync("admin/orgs/netorg/keys", new { name = "mapped" + Guid.NewGuid().ToString("N")[..8], allowedCidrs = new[] { "192.0.2.0/24", "::ffff:10.0.0.0/104" } });

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.BadRequest));
        var problem = await GatewayHost.ProblemAsync(response);
        var message = problem["errors"]!["allowedCidrs[1]"]!.ToJsonString();
        Assert.That(message, Does.Contain("IPv4-mapped").And.Contain("10.0.0.0/8"));
    }

    /// <summary>
    /// A proxy listener on [::] takes IPv4 clients on its dual-stack socket, where their address reads
    /// ::ffff:127.0.0.1: they are matched against IPv4 entries as the IPv4 clients they are.
    /// </summary>
    [Test]
    public async Task Invoke_Ipv4ClientOnDualStackListener_IsMatchedAgainstIpv4Entries()
    {
        var settings = GatewayHost.Routes(Upstream.Url, ("open", "/api/{**rest}", []));
        settings["Kestrel:Endpoints:Proxy:Url"] = "http://[::]:0";
        var peers = new System.Collections.Concurrent.ConcurrentQueue<IPAddress>();
        await using var dualStack = await GatewayHost.StartAsync(settings, services => services.AddSingleton<IStartupFilter>(new PeerRecorder(peers)), store: Store);
        var org = "ds" + Guid.NewGuid().ToString("N")[..8];
        await dualStack.CreateOrgAsync(org);
        var loopback = await dualStack.CreateKeyAsync(org, new { name = "ds" + Guid.NewGuid().ToString("N")[..8], allowedCidrs = new[] { "127.0.0.0/8" } });
        var elsewhere = await dualStack.CreateKeyAsync(org, new { name = "ds" + Guid.NewGuid().ToString("N")[..8], allowedCidrs = new[] { "10.0.0.0/8" } });

        using var allowed = await dualStack.CallAsync("/api/x", loopback.Str("key"));
        using var refused = await dualStack.CallAsync("/api/x", elsewhere.Str("key"));

        Assert.That(allowed.StatusCode, Is.EqualTo(HttpStatusCode.OK), await allowed.Content.ReadAsStringAsync());
        Assert.That((await GatewayHost.ProblemAsync(refused)).Str("code"), Is.EqualTo("ip_not_allowed"));
        Assert.That(peers.Last().IsIPv4MappedToIPv6, Is.True, $"the case under test: the peer arrived as {peers.Last()}");
    }

    /// <summary>Records the TCP peer address of every request, as the server hands it over.</summary>
    private sealed class PeerRecorder(System.Collections.Concurrent.ConcurrentQueue<IPAddress> peers) : IStartupFilter
    {
        public Action<IApplicationBuilder> Configure(Action<IApplicationBuilder> next) => app =>
        {
            app.Use((context, nextMiddleware) =>
            {
                peers.Enqueue(context.Connection.RemoteIpAddress!);
                return nextMiddleware(context);
            });
            next(app);
        };
    }

    [TestCase("{\"allowedCidrs\":\"10.0.0.0/8\"}")]
    [TestCase("{\"allowedCidrs\":[1]}")]
    [TestCase("{\"allowedCidrs\":[[\"10.0.0.0/8\"]]}")]
    [TestCase("{\"allowedCidrs\":{\"a\":\"10.0.0.0/8\"}}")]
    [TestCase("{\"allowedCidrs\":[null]}")]
    [TestCase("{\"allowedCidrs\":true}")]
    public async Task Patch_AllowedCidrsOfWrongType_Returns400(string body)
    {
        var (_, id, _) = await CreateAsync(new[] { "192.0.2.0/24" });

        using var response = await Host.Admin.PatchAsync($"admin/keys/{id}", new StringContent(body, System.Text.Encoding.UTF8, "application/json"));

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.BadRequest));
        Assert.That((await GatewayHost.ProblemAsync(response)).ToJsonString(), Does.Contain("allowedCidrs"));
    }

    [Test]
    public async Task Create_MoreThan100Cidrs_Returns400AndExactly100Works()
    {
        var hundred = Enumerable.Range(0, 100).Select(i => $"10.{i}.0.0/16").ToArray();
        var tooMany = Enumerable.Range(0, 101).Select(i => $"10.{i}.0.0/16").ToArray();

        using var refused = await Host.Admin.PostAsJsonAsync("admin/orgs/netorg/keys", new { name = "too_many", allowedCidrs = tooMany });
        var (key, _, created) = await CreateAsync(hundred);

        Assert.That(refused.StatusCode, Is.EqualTo(HttpStatusCode.BadRequest));
        Assert.That(created["allowedCidrs"]!.AsArray(), Has.Count.EqualTo(100));
        using var response = await FromAsync(key, "10.99.1.1");
        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK));
    }

    [Test]
    public async Task Cli_AllowedCidrFlags_SetAndClear()
    {
        using var output = new StringWriter();
        using var error = new StringWriter();
        var code = await AdminCli.RunAsync(["keys", "create", "--org", "netorg", "--name", "cli_net", "--allowed-cidr", "203.0.113.0/24", "--allowed-cidr", "2001:db8::/32", "--admin-url", Host.AdminUrl.ToString(), "--token", GatewayHost.AdminToken], output, error);
        Assert.That(code, Is.Zero, error.ToString());
        var created = JsonNode.Parse(output.ToString())!;
        Assert.That(created["allowedCidrs"]!.ToJsonString(), Is.EqualTo("[\"203.0.113.0/24\",\"2001:db8::/32\"]"));

        using var output2 = new StringWriter();
        code = await AdminCli.RunAsync(["keys", "update", created.Str("id"), "--any-ip", "--admin-url", Host.AdminUrl.ToString(), "--token", GatewayHost.AdminToken], output2, error);
        Assert.That(code, Is.Zero, error.ToString());
        Assert.That(JsonNode.Parse(output2.ToString())!["allowedCidrs"]!.AsArray(), Is.Empty);
    }

    [Test]
    public async Task Patch_OnOneInstance_OtherInstanceFollowsWithinOneSecond()
    {
        if (Store != StoreKind.Redis)
        {
            Assert.Ignore("Only the Redis store is shared between instances.");
        }

        await using var other = await StartAnotherInstanceAsync();
        var (key, id, _) = await CreateAsync(Array.Empty<string>());
        using (var warm = await other.CallAsync("/api/x", key, r => r.Headers.Add("X-Forwarded-For", "192.0.2.1")))
        {
            Assert.That(warm.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        }

        using (var patch = await PatchAsync(id, new { allowedCidrs = new[] { "10.0.0.0/8" } }))
        {
            Assert.That(patch.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        }

        await GatewayHost.WaitForAsync(async () =>
        {
            using var response = await other.CallAsync("/api/x", key, r => r.Headers.Add("X-Forwarded-For", "192.0.2.1"));
            return response.StatusCode == HttpStatusCode.Forbidden;
        }, TimeSpan.FromSeconds(1));
    }

    [Test]
    public async Task Start_StoreFromBeforeAllowlists_IsMigratedAndKeysKeepWorking()
    {
        if (Store != StoreKind.Sqlite)
        {
            Assert.Ignore("Schema migrations are the embedded store's.");
        }

        var directory = Path.Combine(Path.GetTempPath(), "gw-tests", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(directory);
        var key = Gateway.Keys.ApiKeyFormat.Generate("gw", "production");

        // A version 1 store, as written before allowlists existed, holding one org and its key.
        await using (var connection = new SqliteConnection($"Data Source={Path.Combine(directory, "gateway.db")};Pooling=False"))
        {
            await connection.OpenAsync();
            await using var command = connection.CreateCommand();
            command.CommandText = Gateway.Stores.Sqlite.SqliteSchema.V1 + """
                PRAGMA user_version = 1;
                INSERT INTO orgs VALUES ('oldorg', 'Old org', 0, 'key_old');
                INSERT INTO keys (id, org_id, name, prefix, hash, environment, scopes, state, is_default, created_at, updated_at, version)
                VALUES ('key_old', 'oldorg', 'default', 'gw_live_abcdef', $hash, 'production', '*', 'active', 1, 0, 0, 1);
                """;
            command.Parameters.AddWithValue("$hash", Gateway.Keys.ApiKeyFormat.Hash(key));
            await command.ExecuteNonQueryAsync();
        }

        await using var second = await GatewayHost.StartAsync(Settings(Upstream.Url), directory: directory);
        Assert.That(await second.StatusAsync(key), Is.EqualTo(HttpStatusCode.OK));
        var keys = await second.AdminGetAsync("admin/orgs/oldorg/keys");
        Assert.That(keys["items"]![0]!["allowedCidrs"]!.AsArray(), Is.Empty);
        await using (var connection = new SqliteConnection($"Data Source={Path.Combine(directory, "gateway.db")};Pooling=False"))
        {
            await connection.OpenAsync();
            await using var command = connection.CreateCommand();
            command.CommandText = "PRAGMA user_version;";
            Assert.That(Convert.ToInt32(await command.ExecuteScalarAsync(), System.Globalization.CultureInfo.InvariantCulture), Is.EqualTo(Gateway.Stores.Sqlite.SqliteSchema.Migrations.Length));
        }
    }
}
