using System.Collections.Concurrent;
using System.Globalization;
using System.Net;
using System.Text.RegularExpressions;
using Gateway.Tests.Common;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Gateway.Tests.Stores;

/// <summary>
/// Two gateways on a real three-master Redis Cluster (docs/redis.md, "Redis Cluster"): keys, revocation
/// across instances, exact shared limits, usage and audit, limiter partitions spread over slots, and no
/// cluster redirection or cross-slot error anywhere in the logs.
/// </summary>
[NonParallelizable]
public sealed partial class RedisClusterTests
{
    private const string Prefix = "cl:";
    private readonly ConcurrentBag<(string What, HttpStatusCode Status)> _responses = [];
    private Upstream _upstream = null!;
    private RedisCluster _cluster = null!;
    private CapturingLoggerProvider _logsA = null!;
    private CapturingLoggerProvider _logsB = null!;
    private GatewayHost _a = null!;
    private GatewayHost _b = null!;
    private int _seenA;
    private int _seenB;

    [OneTimeSetUp]
    public async Task StartAsync()
    {
        _upstream = Upstream.Start();
        _cluster = RedisCluster.Start();
        var settings = GatewayHost.Routes(_upstream.Url, ("api", "/api/{**rest}", []));
        settings["Gateway:Store:Redis"] = _cluster.ConnectionString;
        settings["Gateway:Store:RedisPrefix"] = Prefix;
        // Generous for a loaded machine: a timeout here would show up as a 503, which the tests forbid.
        settings["Gateway:Store:Timeout"] = "00:00:03";
        // A fresh period longer than any test: only the invalidation channel can make B notice a change.
        settings["Gateway:Cache:FreshFor"] = "00:05:00";
        settings["Gateway:Usage:FlushInterval"] = "00:00:00.200";
        _logsA = new CapturingLoggerProvider();
        _logsB = new CapturingLoggerProvider();
        _a = await GatewayHost.StartAsync(settings, _logsA.AddTo);
        _b = await GatewayHost.StartAsync(settings, _logsB.AddTo);
    }

    [OneTimeTearDown]
    public async Task StopAsync()
    {
        if (_a is not null)
        {
            await _a.DisposeAsync();
        }

        if (_b is not null)
        {
            await _b.DisposeAsync();
        }

        _logsA?.Dispose();
        _logsB?.Dispose();
        _cluster?.Dispose();
        _upstream?.Dispose();
    }

    [SetUp]
    public void MarkLogs()
    {
        _responses.Clear();
        _seenA = _logsA.Entries.Count;
        _seenB = _logsB.Entries.Count;
    }

    [TearDown]
    public void NoServerErrorsAndNoClusterErrors()
    {
        Assert.Multiple(() =>
        {
            Assert.That(_responses.Where(r => (int)r.Status >= 500), Is.Empty, "no proxied request got a 5xx");
            foreach (var (name, entries) in new[] { ("A", _logsA.Entries.Skip(_seenA)), ("B", _logsB.Entries.Skip(_seenB)) })
            {
                var written = entries.ToList();
                Assert.That(written.Where(e => ClusterError().IsMatch(e.Text)).Select(e => e.Text), Is.Empty, $"gateway {name} logged a cluster redirection or cross-slot error");
                Assert.That(written.Where(e => e.Level >= LogLevel.Error).Select(e => e.Text), Is.Empty, $"gateway {name} logged an error");
            }
        });
    }

    [Test]
    public async Task Keys_CreatedOnCluster_ProxiedWithStampedHeadersOnBothInstances()
    {
        await _a.CreateOrgAsync("keys-org");
        var key = await _b.CreateKeyAsync("keys-org", new { name = "svc", scopes = new[] { "read", "write" } });
        var id = key["id"]!.GetValue<string>();

        Assert.That(await StatusAsync(_a, Plaintext(key), "/api/keys-a"), Is.EqualTo(HttpStatusCode.OK));
        Assert.That(await StatusAsync(_b, Plaintext(key), "/api/keys-b"), Is.EqualTo(HttpStatusCode.OK));

        foreach (var path in new[] { "/api/keys-a", "/api/keys-b" })
        {
            var received = _upstream.Received.Single(e => e.RequestMessage.Path == path).RequestMessage.Headers!;
            var headers = received.ToDictionary(h => h.Key, h => string.Join(",", h.Value), StringComparer.OrdinalIgnoreCase);
            Assert.Multiple(() =>
            {
                Assert.That(headers["X-Org-Id"], Is.EqualTo("keys-org"));
                Assert.That(headers["X-Key-Id"], Is.EqualTo(id));
                Assert.That(headers["X-Key-Name"], Is.EqualTo("svc"));
                Assert.That(headers["X-Key-Scopes"], Is.EqualTo("read write"));
                Assert.That(headers["X-Key-Environment"], Is.EqualTo("production"));
                Assert.That(headers.ContainsKey("Authorization"), Is.False);
            });
        }

        // Multi-key reads (MGET of organizations) and lists work too.
        var orgs = (await _b.AdminGetAsync("admin/orgs"))["items"]!.AsArray().Select(o => o!["id"]!.GetValue<string>());
        Assert.That(orgs, Does.Contain("keys-org"));
        var keys = (await _a.AdminGetAsync("admin/orgs/keys-org/keys"))["items"]!.AsArray().Select(k => k!["name"]!.GetValue<string>());
        Assert.That(keys, Is.EquivalentTo(new[] { "default", "svc" }));
        Assert.That(await StatusAsync(_a, "gw_live_notakeythegatewayknows00000000000000", "/api/unknown"), Is.EqualTo(HttpStatusCode.Unauthorized));
    }

    [Test]
    public async Task Revoke_OnA_RefusedOnBWithinDeadline()
    {
        await _a.CreateOrgAsync("revoke-org");
        var key = await _a.CreateKeyAsync("revoke-org", new { name = "svc" });
        Assert.That(await StatusAsync(_b, Plaintext(key)), Is.EqualTo(HttpStatusCode.OK), "B resolves the key and caches it");

        await _a.AdminPostAsync($"admin/keys/{key["id"]!.GetValue<string>()}/revoke");

        Assert.That(await _a.CodeAsync(Plaintext(key)), Is.EqualTo("key_revoked"), "the instance that revoked it refuses at once");
        var code = await Eventually.ValueAsync(
            async () =>
            {
                using var response = await _b.CallAsync("/api/x", Plaintext(key));
                _responses.Add(("revoked on B", response.StatusCode));
                return response.StatusCode == HttpStatusCode.Unauthorized ? (await GatewayHost.ProblemAsync(response))["code"]!.GetValue<string>() : null;
            },
            static c => c is not null,
            TimeSpan.FromSeconds(5),
            "B refusing the key revoked on A");
        Assert.That(code, Is.EqualTo("key_revoked"));
    }

    [Test]
    public async Task Limits_TwoInstancesConcurrently_ExactlyTheLimitAdmittedPerKey()
    {
        const int Limit = 10;
        const int PerKey = 30;
        var org = "limit-" + Guid.NewGuid().ToString("N")[..8];
        await _a.CreateOrgAsync(org);
        var first = await _a.CreateKeyAsync(org, new { name = "one", rateLimit = new { permitLimit = Limit, window = "00:10:00" } });
        var second = await _b.CreateKeyAsync(org, new { name = "two", rateLimit = new { permitLimit = Limit, window = "00:10:00" } });

        // Started just before a bucket edge (every limiter's: 1 s and 10 s buckets share it), where trips sent in
        // one bucket come back after it ended. Such a trip once made every later round of a waiting request count
        // as "Redis too slow": it was refused (9 admitted) or decided by per-instance limits (up to 28 admitted).
        await JustBeforeABucketEdgeAsync(TimeSpan.FromMinutes(10) / 60, TimeSpan.FromMilliseconds(40));

        // Both keys at once, alternating instances: each request charges the IP, workspace and key partitions.
        var results = await Task.WhenAll(Enumerable.Range(0, 2 * PerKey).Select(async i =>
        {
            var key = i % 2 == 0 ? first : second;
            using var response = await ((i / 2) % 2 == 0 ? _a : _b).CallAsync("/api/x", Plaintext(key));
            _responses.Add(("limited", response.StatusCode));
            var code = response.StatusCode == HttpStatusCode.OK ? null : (await GatewayHost.ProblemAsync(response))["code"]!.GetValue<string>();
            return (Key: key["id"]!.GetValue<string>(), response.StatusCode, Code: code);
        }));

        foreach (var key in new[] { first, second })
        {
            var mine = results.Where(r => r.Key == key["id"]!.GetValue<string>()).ToList();
            Assert.Multiple(() =>
            {
                Assert.That(mine.Count(r => r.StatusCode == HttpStatusCode.OK), Is.EqualTo(Limit), $"key {key["name"]}: admitted across both instances");
                Assert.That(mine.Where(r => r.StatusCode != HttpStatusCode.OK).Select(r => (r.StatusCode, r.Code)), Has.All.EqualTo((HttpStatusCode.TooManyRequests, "rate_limited")));
            });
        }
    }

    /// <summary>Waits, on Redis's clock, until <paramref name="before"/> is left of the current limiter bucket.</summary>
    private async Task JustBeforeABucketEdgeAsync(TimeSpan bucket, TimeSpan before)
    {
        var time = RedisCluster.Command(_cluster.Ports[0], "TIME");
        var nowMs = (long.Parse(time[0]!, CultureInfo.InvariantCulture) * 1000) + (long.Parse(time[1]!, CultureInfo.InvariantCulture) / 1000);
        var left = (long)bucket.TotalMilliseconds - (nowMs % (long)bucket.TotalMilliseconds);
        await Task.Delay(TimeSpan.FromMilliseconds(Math.Max(0, left - before.TotalMilliseconds)));
    }

    [Test]
    public async Task LimiterKeys_DifferentPartitions_LandInTheirOwnSlots()
    {
        // Two organizations whose workspace partitions hash to different nodes: one shared tag would put them on one.
        var orgs = Enumerable.Range(0, 100).Select(i => $"slot-org-{i}")
            .Select(org => (Org: org, Node: _cluster.NodeOf($"{Prefix}rl:{{ws:{org}}}")))
            .DistinctBy(o => o.Node)
            .Take(2)
            .ToList();
        Assert.That(orgs, Has.Count.EqualTo(2), "a pair of organization ids on different nodes");
        foreach (var (org, _) in orgs)
        {
            await _a.CreateOrgAsync(org);
            var key = await _a.CreateKeyAsync(org, new { name = "k", rateLimit = new { permitLimit = 1000, window = "00:10:00" } });
            Assert.That(await StatusAsync(_b, Plaintext(key)), Is.EqualTo(HttpStatusCode.OK));
        }

        var limiterKeys = _cluster.Keys(Prefix + "rl:*");
        Assert.Multiple(() =>
        {
            foreach (var (port, key) in limiterKeys)
            {
                Assert.That(key, Does.Match(@"^cl:rl:\{(ip|ws|route|key):[^{}]+\}:[0-9]+$"), "one hash tag per partition, around the whole partition, then the window (ms)");
                Assert.That(_cluster.KeySlot(key), Is.EqualTo(_cluster.KeySlot(key[(key.IndexOf('{') + 1)..key.IndexOf('}')])));
            }

            foreach (var (org, node) in orgs)
            {
                Assert.That(limiterKeys, Does.Contain((node, $"{Prefix}rl:{{ws:{org}}}:60000")), $"the workspace counter of {org} on its own slot's node");
            }
        });

        var slots = limiterKeys.Where(k => k.Key.Contains("{ws:slot-org-", StringComparison.Ordinal)).Select(k => _cluster.KeySlot(k.Key)).ToList();
        Assert.That(slots, Is.Unique.And.Count.EqualTo(2));

        // The store itself keeps every key in the {store} slot (its scripts write several keys at once); features that
        // partition on purpose (limits, quotas, the request log and its request-id index per organization) or use
        // only single-key commands (the Data Protection key ring, the request log's list of organizations) are left out.
        string[] ownSlots = ["rl:", "q:", "reqlog:", "reqlog-idx:", "reqlog-idx-old:", "reqlog-orgs", "dataprotection-keys"];
        var storeKeys = _cluster.Keys(Prefix + "*").Where(k => !ownSlots.Any(p => k.Key.StartsWith(Prefix + p, StringComparison.Ordinal))).ToList();
        Assert.That(storeKeys.Select(k => Regex.Match(k.Key, @"\{([^}]*)\}").Groups[1].Value).Distinct(), Is.SubsetOf(new[] { "store", "usage", "webhooks" }));
    }

    [Test]
    public async Task UsageAndAudit_WrittenByBothInstances_ReadFromEither()
    {
        await _a.CreateOrgAsync("usage-org");
        var key = await _a.CreateKeyAsync("usage-org", new { name = "svc" });
        var id = key["id"]!.GetValue<string>();
        for (var i = 0; i < 3; i++)
        {
            Assert.That(await StatusAsync(_b, Plaintext(key)), Is.EqualTo(HttpStatusCode.OK));
        }

        Assert.That(await StatusAsync(_a, Plaintext(key)), Is.EqualTo(HttpStatusCode.OK));
        await _b.AdminPostAsync($"admin/keys/{id}/revoke");

        // B's counts reach A through Redis once B has flushed them.
        await Eventually.HoldsAsync(
            async () => (await _a.AdminGetAsync($"admin/keys/{id}/usage?granularity=hour"))["totals"]!["counts"]!["allowed"]?.GetValue<long>() == 4,
            TimeSpan.FromSeconds(10),
            "A reporting the requests served by both instances");
        // And A's reach B (each instance adds only its own unflushed counts).
        await Eventually.HoldsAsync(
            async () => (await _b.AdminGetAsync("admin/orgs/usage-org/usage?granularity=hour"))["totals"]!["total"]!.GetValue<long>() == 4,
            TimeSpan.FromSeconds(10),
            "B reporting the org's requests served by both instances");

        var audit = (await _a.AdminGetAsync("admin/audit?org=usage-org"))["items"]!.AsArray().Select(e => e!["action"]!.GetValue<string>());
        Assert.That(audit, Is.EqualTo(new[] { "key.revoke", "key.create", "org.create" }), "newest first, written by both instances");
        var lastUsed = await Eventually.ValueAsync(
            async () => (await _b.AdminGetAsync($"admin/keys/{id}"))["lastUsedAt"]?.GetValue<string>(),
            static v => v is not null,
            TimeSpan.FromSeconds(10),
            "lastUsedAt flushed");
        Assert.That(lastUsed, Is.Not.Empty);
    }

    [Test]
    public async Task RequestLog_BatchOverOrganizationsOnEveryNode_OneCallPerSlot_EveryRecordFound()
    {
        // Organizations on every node, two records each: a script's keys must share a slot, so a batch is one call per slot.
        var log = _a.Services.GetRequiredService<Gateway.RequestLog.IRequestLogStore>();
        var start = DateTimeOffset.UtcNow.AddMinutes(-1);
        var orgs = Enumerable.Range(0, 30).Select(i => $"log-org-{i}").ToList();
        Assert.That(orgs.Select(o => _cluster.NodeOf($"{Prefix}reqlog:{{{o}}}")).Distinct().Count(), Is.EqualTo(3), "organizations on all three nodes");
        var records = Enumerable.Range(0, 60)
            .Select(i => new Gateway.RequestLog.RequestRecord(start.AddMilliseconds(i), $"log-{i}", orgs[i % orgs.Count], "key_1", null, "GET", "/api/x", "api", 200, null, 1, null, 200))
            .ToList();
        records.Add(new Gateway.RequestLog.RequestRecord(start.AddMilliseconds(61), "log-no-org", null, null, null, "GET", "/api/x", "api", 401, "unauthorized", 1, null, null));

        await log.AppendAsync(records, CancellationToken.None);

        foreach (var record in records)
        {
            Assert.That((await log.FindAsync(record.RequestId, start.AddDays(-1), CancellationToken.None))?.OrgId, Is.EqualTo(record.OrgId), record.RequestId);
        }
    }

    private static string Plaintext(System.Text.Json.Nodes.JsonObject key) => key["key"]!.GetValue<string>();

    private async Task<HttpStatusCode> StatusAsync(GatewayHost gateway, string key, string path = "/api/x")
    {
        var status = await gateway.StatusAsync(key, path);
        _responses.Add((path, status));
        return status;
    }

    // MOVED / ASK: the client did not follow the slot map; CROSSSLOT: a command spanned slots; CLUSTERDOWN: a node lost its slots.
    [GeneratedRegex(@"\b(MOVED|ASK|CROSSSLOT|CLUSTERDOWN|TRYAGAIN)\b")]
    private static partial Regex ClusterError();
}
