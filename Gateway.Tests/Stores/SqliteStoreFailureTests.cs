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

    [Test]
    [System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
    public void Start_StorePathNamesSomeoneElsesFile_RefusedWithEveryModeAsItWas()
    {
        var directory = Path.Combine(Path.GetTempPath(), "gw-tests", Guid.NewGuid().ToString("N"));
        var perm = Path.Combine(directory, "perm");
        Directory.CreateDirectory(perm);
        File.SetUnixFileMode(perm, (UnixFileMode)Convert.ToInt32("755", 8));
        var notes = Path.Combine(perm, "notes.txt");
        File.WriteAllText(notes, "hello\n");
        File.SetUnixFileMode(notes, (UnixFileMode)Convert.ToInt32("644", 8));
        var before = Modes(directory);

        // It left notes.txt 0600 and perm/ 0700 on its way to being refused.
        var failure = Assert.CatchAsync(async () => await GatewayHost.StartAsync(new Dictionary<string, string?> { ["Gateway:Store:Path"] = notes }));
        Assert.That(Gateway.Hosting.StartupFailure.Describe(failure!).First(), Does.StartWith($"Gateway:Store:Path '{notes}' is not a gateway store"));
        Assert.That(Modes(directory), Is.EqualTo(before), "no mode changed, nothing added");
        Assert.That(File.ReadAllText(notes), Is.EqualTo("hello\n"));

        // A directory named as the store: its parent (here perm/) kept its mode too.
        failure = Assert.CatchAsync(async () => await GatewayHost.StartAsync(new Dictionary<string, string?> { ["Gateway:Store:Path"] = perm }));
        Assert.That(Gateway.Hosting.StartupFailure.Describe(failure!).First(), Does.StartWith($"Gateway:Store:Path '{perm}' is a directory"));
        Assert.That(Modes(directory), Is.EqualTo(before));
        Directory.Delete(directory, recursive: true);
    }

    [Test]
    public async Task Start_StoreWithADamagedKeysPage_NotReady_WarmUpSaysHowToCheck()
    {
        var directory = Path.Combine(Path.GetTempPath(), "gw-tests", Guid.NewGuid().ToString("N"));
        var first = await GatewayHost.StartAsync(directory: directory);
        await first.CreateOrgAsync("acme");
        for (var i = 0; i < 5; i++)
        {
            await first.CreateKeyAsync("acme", new { name = $"k{i}" });
        }

        await first.StopForRestartAsync();

        // Every row of the keys table lives on its root page here: garbage over it, as a bad disk sector would leave.
        SqliteConnection.ClearAllPools();
        var store = Path.Combine(directory, "gateway.db");
        long page;
        long pageSize;
        using (var connection = SqliteCommands.Open(store))
        {
            connection.Execute("PRAGMA wal_checkpoint(TRUNCATE);");
            page = connection.Scalar("SELECT rootpage FROM sqlite_master WHERE type = 'table' AND name = 'keys';");
            pageSize = connection.Scalar("PRAGMA page_size;");
        }

        await using (var file = new FileStream(store, FileMode.Open, FileAccess.Write))
        {
            file.Position = (page - 1) * pageSize;
            await file.WriteAsync(Enumerable.Repeat((byte)0x5A, (int)pageSize).ToArray());
        }

        // It answered 200 while every key got 503, and the warm-up's failure was a warning about a failed read.
        await using var gateway = await GatewayHost.StartAsync(directory: directory);
        using var ready = await gateway.Admin.GetAsync("readyz");
        Assert.That(ready.StatusCode, Is.EqualTo(HttpStatusCode.ServiceUnavailable), await ready.Content.ReadAsStringAsync());
        Assert.That(await ready.Content.ReadAsStringAsync(), Does.Contain("damaged"));
        Assert.That(gateway.Errors, Does.Contain("PRAGMA integrity_check").And.Contain(store).And.Contain("backup"));
    }

    /// <summary>Every entry under <paramref name="root"/> (itself included) with its mode, sorted.</summary>
    [System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
    private static List<string> Modes(string root) =>
        Directory.EnumerateFileSystemEntries(root, "*", SearchOption.AllDirectories).Append(root)
            .Order(StringComparer.Ordinal)
            .Select(path => $"{path} {Convert.ToString((int)File.GetUnixFileMode(path), 8)}")
            .ToList();
}
