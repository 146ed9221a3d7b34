using System.Net;
using Gateway.Tests.Common;
using Microsoft.Data.Sqlite;

namespace Gateway.Tests.Stores;

/// <summary>
/// The embedded store failing under a running gateway (its file removed from under the process): admin calls
/// answer 503 store_unavailable, the caller's cue to retry later, never a 500.
/// </summary>
[NonParallelizable]
public sealed class SqliteStoreFailureTests
{
    [Test]
    public async Task StoreFileRemoved_AdminCallsAnswer503()
    {
        await using var gateway = await GatewayHost.StartAsync();
        await gateway.CreateOrgAsync("acme");
        foreach (var file in Directory.GetFiles(gateway.Directory, "gateway.db*"))
        {
            File.Delete(file);
        }

        // Connections still open see the removed file; new ones meet an empty one without tables.
        SqliteConnection.ClearAllPools();

        foreach (var path in new[] { "admin/orgs", "admin/orgs/acme/keys", "admin/orgs/acme/webhooks", "admin/orgs/acme/customers" })
        {
            using var response = await gateway.Admin.GetAsync(path);
            Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.ServiceUnavailable), path);
            Assert.That((await GatewayHost.ProblemAsync(response)).Str("code"), Is.EqualTo("store_unavailable"), path);
        }
    }
}
