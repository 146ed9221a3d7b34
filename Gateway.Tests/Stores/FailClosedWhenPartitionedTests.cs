using System.Net;
using Gateway.Tests.Common;

namespace Gateway.Tests.Stores;

/// <summary>
/// Gateway:Cache:FailClosedWhenPartitioned with a real redis-server frozen (SIGSTOP) or killed under the
/// gateway: a known key is not served past Cache:FreshFor while the store is unreachable (503
/// store_unavailable), since a revocation made meanwhile on another instance could not be heard; service
/// comes back with the store.
/// </summary>
[NonParallelizable]
public sealed class FailClosedWhenPartitionedTests
{
    [TestCase(true)]
    [TestCase(false)]
    public async Task StoreFrozen_KnownKeyPastItsFreshness(bool failClosed)
    {
        using var upstream = Upstream.Start();
        using var redis = RedisServer.Start();
        var settings = GatewayHost.Routes(upstream.Url, ("api", "/api/{**rest}", []));
        settings["Gateway:Store:Redis"] = redis.ConnectionString;
        settings["Gateway:Store:Timeout"] = "00:00:00.300";
        // Fresh for one tick: every request after the first asks the store first, with no wait for a fresh period to lapse.
        settings["Gateway:Cache:FreshFor"] = "00:00:00.0000001";
        settings["Gateway:Cache:FailClosedWhenPartitioned"] = failClosed ? "true" : "false";
        await using var gateway = await GatewayHost.StartAsync(settings);
        await gateway.CreateOrgAsync("acme");
        var key = (await gateway.CreateKeyAsync("acme", new { name = "known" })).Str("key");
        Assert.That(await gateway.StatusAsync(key), Is.EqualTo(HttpStatusCode.OK), "cached while the store answers");

        redis.Pause();
        try
        {
            // Past the fresh period (one tick) every request asks the frozen store first.
            using var response = await gateway.CallAsync("/api/x", key);
            if (failClosed)
            {
                Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.ServiceUnavailable));
                Assert.That((await GatewayHost.ProblemAsync(response)).Str("code"), Is.EqualTo("store_unavailable"));
            }
            else
            {
                Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK), "the default serves the cached key for Cache:StaleFor");
            }
        }
        finally
        {
            redis.Resume();
        }

        await GatewayHost.WaitForAsync(async () => await gateway.StatusAsync(key) == HttpStatusCode.OK, TimeSpan.FromSeconds(15));
    }
}
