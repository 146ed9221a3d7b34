using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Gateway.Tests.Common;

namespace Gateway.Tests.Stores;

/// <summary>
/// How long requests wait for a frozen Redis (SIGSTOP: connections stay open, nothing answers) on the request path
/// (docs/redis.md, Outages): no request waits much longer than <c>Store:Timeout</c>, and once a Redis call has failed
/// requests go straight to the fallback until a probe finds Redis answering again, so only the requests already
/// waiting when Redis froze pay, not a new wave every second or two.
/// </summary>
/// <remarks>
/// Measured on the code before this test: StackExchange.Redis checks its timeouts on a one-second heartbeat, so a call
/// with a 1 s timeout failed after 1-2 s; the limiter then went back to Redis after a second and every component (IP
/// and key limits, quota leases, key and customer reads) paid its own timeout, so requests of up to 2-3 s came in
/// waves all through the freeze.
/// </remarks>
[NonParallelizable]
public sealed class RedisFreezeStallTests
{
    private static readonly TimeSpan StoreTimeout = TimeSpan.FromSeconds(1);

    // Generous for a loaded two-core machine, and well under the 1-2 s a heartbeat-checked timeout took.
    private static readonly TimeSpan Bound = StoreTimeout + TimeSpan.FromMilliseconds(500);
    private static readonly TimeSpan Slow = TimeSpan.FromMilliseconds(500);
    private static readonly TimeSpan Frozen = TimeSpan.FromSeconds(8);
    private const int Loops = 4;

    [Test]
    public async Task Sigstop_AnonymousAndKeyedRequests_NoneWaitsPastTheTimeout_OnlyTheFirstWaveWaits()
    {
        using var upstream = Upstream.Start();
        using var redis = RedisServer.Start();
        var settings = GatewayHost.Routes(upstream.Url, ("api", "/api/{**rest}", []), ("open", "/open/{**rest}", [("Anonymous", "true")]));
        settings["Gateway:Store:Redis"] = redis.ConnectionString;
        settings["Gateway:Store:Timeout"] = "00:00:01";
        // One-second windows: leases end within half a second, so the limits keep asking Redis through the freeze.
        settings["Gateway:RateLimits:Ip:Window"] = "00:00:01";
        settings["Gateway:RateLimits:Workspace:Window"] = "00:00:01";
        // Keys and customers go stale during the freeze, so they are read again (and served from memory when that fails).
        settings["Gateway:Cache:FreshFor"] = "00:00:01";
        await using var gateway = await GatewayHost.StartAsync(settings);
        await gateway.CreateOrgAsync("acme");
        await gateway.AdminPostAsync("admin/orgs/acme/customers", new { id = "c", name = "C", quota = new { limit = 1_000_000_000, period = "day" } }, expected: 201);
        var key = (await gateway.CreateKeyAsync("acme", new
        {
            name = "known",
            customerId = "c",
            rateLimit = new { permitLimit = 1_000_000, window = "00:00:01" },
            credits = new { remaining = 1_000_000_000 },
        })).Str("key");
        for (var i = 0; i < 20; i++)
        {
            await gateway.Expect(await gateway.CallAsync("/api/x", key), 200);
            await gateway.Expect(await gateway.CallAsync("/open/x", null), 200);
        }

        var calls = new List<Call>();
        redis.Pause();
        var frozenAt = Stopwatch.GetTimestamp();
        try
        {
            var loops = Enumerable.Range(0, Loops).Select(loop => Task.Run(() => LoopAsync(gateway, key, loop, frozenAt))).ToArray();
            foreach (var loop in loops)
            {
                calls.AddRange(await loop);
            }
        }
        finally
        {
            redis.Resume();
        }

        var slow = calls.Where(c => c.Took >= Slow).OrderBy(c => c.Start).ToList();
        var report = $"{calls.Count} requests; slow (start s → took ms): "
            + string.Join(", ", slow.Select(c => $"{c.Path} {c.Start.TotalSeconds:0.00}→{c.Took.TotalMilliseconds:0}"))
            + $"; slowest {calls.Max(c => c.Took).TotalMilliseconds:0} ms";
        TestContext.Out.WriteLine(report);

        Assert.That(calls.Where(c => c.Status != HttpStatusCode.OK).Select(c => $"{c.Path} {(int)c.Status}"), Is.Empty,
            "the cached key and customer are served from memory and the limits fall back to per-instance counts");
        Assert.That(calls.Max(c => c.Took), Is.LessThan(Bound), "no request waits much past Store:Timeout: " + report);
        // The requests under way when Redis froze wait until the first call gives up (each loop has one at a time).
        // After that nothing waits: no second wave when the limiter or a cache tries Redis again.
        Assert.That(slow.Count(c => c.Start > StoreTimeout + StoreTimeout), Is.LessThanOrEqualTo(1), "a wave after the first: " + report);
        Assert.That(slow, Has.Count.LessThanOrEqualTo(Loops + 2), report);

        // Once Redis answers, a probe finds it answering and a key this instance never saw is read from it again.
        string? fresh = null;
        await GatewayHost.WaitForAsync(async () =>
        {
            using var created = await gateway.Admin.PostAsync("admin/orgs/acme/keys", JsonContent.Create(new { name = "after" }));
            fresh = created.StatusCode == HttpStatusCode.Created ? (await created.Content.ReadFromJsonAsync<JsonObject>()).Str("key") : null;
            return fresh is not null;
        }, TimeSpan.FromSeconds(15));
        await GatewayHost.WaitForAsync(async () => await gateway.StatusAsync(fresh) == HttpStatusCode.OK, TimeSpan.FromSeconds(15));
    }

    private static async Task<List<Call>> LoopAsync(GatewayHost gateway, string key, int loop, long frozenAt)
    {
        var calls = new List<Call>();
        using var pace = new PeriodicTimer(TimeSpan.FromMilliseconds(50));
        for (var i = loop; Stopwatch.GetElapsedTime(frozenAt) < Frozen; i++)
        {
            var keyed = i % 2 == 0;
            var path = keyed ? "/api/x" : "/open/x";
            var start = Stopwatch.GetElapsedTime(frozenAt);
            using (var response = await gateway.CallAsync(path, keyed ? key : null))
            {
                calls.Add(new Call(path, start, Stopwatch.GetElapsedTime(frozenAt) - start, response.StatusCode));
            }

            // Paced (the probe sent ten a second): a load generator's rhythm, not a wait for a condition.
            await pace.WaitForNextTickAsync();
        }

        return calls;
    }

    private sealed record Call(string Path, TimeSpan Start, TimeSpan Took, HttpStatusCode Status);
}
