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

    [Test]
    public async Task StoreFileRemoved_SecretScanningReport_503StoreUnavailableNot500()
    {
        using var github = System.Security.Cryptography.ECDsa.Create(System.Security.Cryptography.ECCurve.NamedCurves.nistP256);
        var settings = GatewayHost.Routes("http://127.0.0.1:9/", ("all", "/{**rest}", []));
        settings["Gateway:SecretScanning:Enabled"] = "true";
        settings["Gateway:SecretScanning:PublicKeys:gh-key-1"] = github.ExportSubjectPublicKeyInfoPem();
        await using var gateway = await GatewayHost.StartAsync(settings);
        await gateway.CreateOrgAsync("acme");
        var key = (await gateway.CreateKeyAsync("acme", new { name = "leaky" })).Str("key");
        foreach (var file in Directory.GetFiles(gateway.Directory, "gateway.db*"))
        {
            File.Delete(file);
        }

        SqliteConnection.ClearAllPools();

        var body = System.Text.Encoding.UTF8.GetBytes($"[{{\"token\":\"{key}\",\"type\":\"gateway_api_key\"}}]");
        using var request = new HttpRequestMessage(HttpMethod.Post, "/_gateway/secret-scanning") { Content = new ByteArrayContent(body) };
        request.Headers.Add("GITHUB-PUBLIC-KEY-IDENTIFIER", "gh-key-1");
        request.Headers.Add("GITHUB-PUBLIC-KEY-SIGNATURE", Convert.ToBase64String(github.SignData(body, System.Security.Cryptography.HashAlgorithmName.SHA256, System.Security.Cryptography.DSASignatureFormat.Rfc3279DerSequence)));
        using var response = await gateway.Proxy.SendAsync(request);

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.ServiceUnavailable), await response.Content.ReadAsStringAsync());
        Assert.That((await GatewayHost.ProblemAsync(response)).Str("code"), Is.EqualTo("store_unavailable"));
        Assert.That(response.Headers.RetryAfter, Is.Not.Null, "GitHub is told to send it again");
    }

    [Test]
    public void Start_StorePathNotAnSqliteFile_FailsNamingTheSetting()
    {
        var directory = Path.Combine(Path.GetTempPath(), "gw-notdb-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(directory);
        try
        {
            var path = Path.Combine(directory, "gateway.db");
            File.WriteAllText(path, "this is not an SQLite database, it is a text file of some length");
            var failure = Assert.CatchAsync(async () => await GatewayHost.StartAsync(new Dictionary<string, string?> { ["Gateway:Store:Path"] = path }));

            Assert.That(failure, Is.InstanceOf<InvalidOperationException>(), failure!.ToString());
            Assert.That(Gateway.Hosting.StartupFailure.Describe(failure).ToList(), Is.EqualTo(new[] { $"Gateway:Store:Path '{path}' is not a gateway store: SQLite Error 26: 'file is not a database'." }));
            Assert.That(File.ReadAllText(path), Does.StartWith("this is not an SQLite database"), "the file is left as it was");
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    [Test]
    public void Start_StorePathIsADirectory_FailsSayingItIsADirectory()
    {
        var directory = Path.Combine(Path.GetTempPath(), "gw-dir-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(directory);
        try
        {
            var failure = Assert.CatchAsync(async () => await GatewayHost.StartAsync(new Dictionary<string, string?> { ["Gateway:Store:Path"] = directory }));

            Assert.That(failure, Is.InstanceOf<InvalidOperationException>(), failure!.ToString());
            Assert.That(Gateway.Hosting.StartupFailure.Describe(failure).ToList(), Is.EqualTo(new[]
            {
                $"Gateway:Store:Path '{directory}' is a directory; give the path of the store's file (for example '{Path.Combine(directory, "gateway.db")}').",
            }));
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }
}
