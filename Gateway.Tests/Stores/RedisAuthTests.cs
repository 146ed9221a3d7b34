using System.Net;
using Gateway.Tests.Common;
using Microsoft.Extensions.Logging;

namespace Gateway.Tests.Stores;

/// <summary>
/// The gateway on a redis-server that asks for a password, and as an ACL user with only the rights the
/// gateway needs (docs/redis.md, "Password and ACL user").
/// </summary>
public sealed class RedisAuthTests
{
    /// <summary>The ACL rules documented in docs/redis.md, checked here against every path the gateway takes.</summary>
    public const string AclRules = "on >gw-secret-pw resetkeys ~gw:* resetchannels &gw:* -@all +@connection +@read +@write +eval +evalsha +script|load +publish +subscribe +unsubscribe +time -@dangerous +info +cluster|nodes";

    private const string AdminPassword = "admin-secret-pw";
    private Upstream _upstream = null!;

    [OneTimeSetUp]
    public void StartUpstream() => _upstream = Upstream.Start();

    [OneTimeTearDown]
    public void StopUpstream() => _upstream.Dispose();

    [Test]
    public async Task RequirePass_PasswordInConnectionString_KeysLimitsAndReadinessWork()
    {
        using var redis = RedisServer.Start("--requirepass", AdminPassword);
        await using var gateway = await GatewayHost.StartAsync(Settings($"{redis.ConnectionString},password={AdminPassword}"));

        using (var ready = await gateway.Admin.GetAsync("readyz"))
        {
            Assert.That(ready.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        }

        await gateway.CreateOrgAsync("acme");
        var key = (await gateway.CreateKeyAsync("acme", new { name = "k", rateLimit = new { permitLimit = 2, window = "00:10:00" } }))["key"]!.GetValue<string>();
        Assert.That(await gateway.StatusAsync(key), Is.EqualTo(HttpStatusCode.OK));
        Assert.That(await gateway.StatusAsync(key), Is.EqualTo(HttpStatusCode.OK));
        Assert.That(await gateway.CodeAsync(key), Is.EqualTo("rate_limited"));
        var stored = RedisSentinelSet.Commands(redis.Port, ["AUTH", AdminPassword], ["EXISTS", "gw:{store}:org:acme"]);
        Assert.That(stored, Is.EqualTo(new[] { "1" }), "the org is in this server under the default prefix");
    }

    [TestCase("wrong-password")]
    [TestCase("")]
    public void RequirePass_WrongOrMissingPassword_StartFailsWithOneLine(string password)
    {
        using var redis = RedisServer.Start("--requirepass", AdminPassword);
        var connection = password.Length == 0 ? redis.ConnectionString : $"{redis.ConnectionString},password={password}";

        var failure = Assert.ThrowsAsync<InvalidOperationException>(async () => await GatewayHost.StartAsync(Settings(connection)));

        Assert.That(failure!.Message, Is.EqualTo("Gateway:Store:Redis: Redis refused the credentials; check password= (and user= for an ACL user) in the connection string and that the user is enabled."));
        Assert.That(Gateway.Hosting.StartupFailure.Describe(failure).ToList(), Has.Count.EqualTo(1), "one line for the operator, no stack of inner messages");
        Assert.That(failure.Message, Does.Not.Contain(AdminPassword).And.Not.Contain("wrong-password"));
    }

    [TestCase(false)]
    [TestCase(true)]
    public async Task AclUser_DocumentedRules_EveryGatewayPathWorksAndNothingIsDenied(bool cluster)
    {
        using var single = cluster ? null : RedisServer.Start("--requirepass", AdminPassword);
        using var nodes = cluster ? RedisCluster.Start("--requirepass", AdminPassword) : null;
        var ports = cluster ? nodes!.Ports : [single!.Port];
        foreach (var port in ports)
        {
            // ACL users are per node, also in a cluster.
            RedisSentinelSet.Commands(port, ["AUTH", AdminPassword], ["ACL", "SETUSER", "gw", .. AclRules.Split(' ')]);
        }

        var settings = Settings($"{(cluster ? nodes!.ConnectionString : single!.ConnectionString)},user=gw,password=gw-secret-pw");
        settings["Gateway:Cache:FreshFor"] = "00:05:00";
        settings["Gateway:Usage:FlushInterval"] = "00:00:00.200";
        var logs = new CapturingLoggerProvider();
        await using var a = await GatewayHost.StartAsync(settings, logs.AddTo);
        await using var b = await GatewayHost.StartAsync(settings, logs.AddTo);

        // Admin writes (scripts), reads, proxied requests with limits, usage, audit, and revocation over pub/sub.
        await a.CreateOrgAsync("acme");
        var created = await a.CreateKeyAsync("acme", new { name = "k", rateLimit = new { permitLimit = 3, window = "00:10:00" } });
        var key = created["key"]!.GetValue<string>();
        var id = created["id"]!.GetValue<string>();
        Assert.That(await b.StatusAsync(key), Is.EqualTo(HttpStatusCode.OK));
        Assert.That(await a.StatusAsync(key), Is.EqualTo(HttpStatusCode.OK));
        Assert.That(await b.StatusAsync(key), Is.EqualTo(HttpStatusCode.OK));
        Assert.That(await a.CodeAsync(key), Is.EqualTo("rate_limited"));
        await Eventually.HoldsAsync(
            async () => (await a.AdminGetAsync($"admin/keys/{id}/usage?granularity=hour"))["totals"]!["total"]!.GetValue<long>() == 4,
            TimeSpan.FromSeconds(10),
            "usage of both instances");
        Assert.That((await b.AdminGetAsync("admin/orgs"))["items"]!.AsArray(), Has.Count.EqualTo(1));
        Assert.That((await b.AdminGetAsync("admin/audit?org=acme"))["items"]!.AsArray(), Has.Count.EqualTo(2));
        await a.AdminPostAsync($"admin/keys/{id}/revoke");
        await Eventually.HoldsAsync(async () => await b.StatusAsync(key) == HttpStatusCode.Unauthorized, TimeSpan.FromSeconds(5), "B refusing the key revoked on A");
        using (var ready = await b.Admin.GetAsync("readyz"))
        {
            Assert.That(ready.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        }

        foreach (var port in ports)
        {
            var denied = RedisSentinelSet.Commands(port, ["AUTH", AdminPassword], ["ACL", "LOG"]);
            Assert.That(denied, Is.Empty, $"ACL LOG of {port}: commands, keys or channels the gateway was denied");
        }

        Assert.That(logs.Entries.Where(e => e.Level >= LogLevel.Warning).Select(e => e.Text), Is.Empty);
    }

    [Test]
    public void AclRules_AreTheOnesDocumented() =>
        Assert.That(RepositoryFiles.Read("docs", "redis.md"), Does.Contain("ACL SETUSER gw " + AclRules.Replace(">gw-secret-pw", ">s3cret", StringComparison.Ordinal)));

    private Dictionary<string, string?> Settings(string redis)
    {
        var settings = GatewayHost.Routes(_upstream.Url, ("api", "/api/{**rest}", []));
        settings["Gateway:Store:Redis"] = redis;
        settings["Gateway:Store:RedisPrefix"] = "gw:";
        settings["Gateway:Store:Timeout"] = "00:00:03";
        return settings;
    }
}
