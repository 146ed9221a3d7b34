using System.Net;
using Gateway.Tests.Common;

namespace Gateway.Tests.Stores;

/// <summary>
/// <c>/readyz</c> on a Redis Cluster follows the node that holds the store's keys: a bare PING went to any node and
/// answered 200 while that one was frozen. A cluster of its own, since freezing a node disturbs every test on it.
/// </summary>
[NonParallelizable]
public sealed class RedisClusterReadinessTests
{
    [Test]
    public async Task Readyz_NodeHoldingTheStoreFrozen_503UntilItAnswersAgain()
    {
        using var cluster = RedisCluster.Start();
        var settings = new Dictionary<string, string?>
        {
            ["Gateway:Store:Redis"] = cluster.ConnectionString,
            ["Gateway:Store:RedisPrefix"] = "rz:",
            ["Gateway:Store:Timeout"] = "00:00:01",
        };
        await using var gateway = await GatewayHost.StartAsync(settings);
        var node = cluster.NodeOf("rz:{store}:orgs");
        using var admin = new HttpClient { BaseAddress = gateway.AdminUrl, Timeout = TimeSpan.FromSeconds(30) };
        Assert.That((await admin.GetAsync("readyz")).StatusCode, Is.EqualTo(HttpStatusCode.OK));

        // Frozen for less than the cluster's node timeout (15 s), so the other nodes never declare the cluster down.
        cluster.Signal(node, "STOP");
        try
        {
            await Eventually.HoldsAsync(async () => (await admin.GetAsync("readyz")).StatusCode == HttpStatusCode.ServiceUnavailable, TimeSpan.FromSeconds(8), "/readyz answers 503 while the store's node is frozen");
            for (var i = 0; i < 3; i++)
            {
                Assert.That((await admin.GetAsync("readyz")).StatusCode, Is.EqualTo(HttpStatusCode.ServiceUnavailable), "and again: never 200 while frozen");
            }
        }
        finally
        {
            cluster.Signal(node, "CONT");
        }

        await Eventually.HoldsAsync(async () => (await admin.GetAsync("readyz")).StatusCode == HttpStatusCode.OK, TimeSpan.FromSeconds(30), "/readyz answers 200 again");
    }
}
