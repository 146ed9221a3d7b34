using Gateway.Tests.Common;

namespace Gateway.Tests;

/// <summary>Runs once around every test in the assembly (all live under this namespace).</summary>
[SetUpFixture]
public sealed class TestRunCleanup
{
    [OneTimeTearDown]
    public void StopSharedServers()
    {
        if (RedisServer.IsSharedStarted)
        {
            RedisServer.Shared.Dispose();
        }

        // Clusters whose fixture never reached its teardown (a failed setup, an aborted run).
        RedisCluster.DisposeAll();
        PublishedGateway.Delete();
    }
}
