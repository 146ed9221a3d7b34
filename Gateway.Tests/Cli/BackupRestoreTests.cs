using System.Net;
using Gateway.Cli;
using Gateway.Tests.Common;
using Microsoft.Data.Sqlite;

namespace Gateway.Tests.Cli;

/// <summary>
/// <c>backup</c> copies the SQLite store consistently while a gateway serves and is written to;
/// <c>restore</c> puts a verified copy back, refuses while a gateway uses the store, and keys work after it.
/// </summary>
public sealed class BackupRestoreTests
{
    private string _backups = null!;

    [SetUp]
    public void SetUp()
    {
        _backups = Path.Combine(Path.GetTempPath(), "gw-tests", "backups-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(_backups);
    }

    [TearDown]
    public void TearDown() => Directory.Delete(_backups, recursive: true);

    [Test]
    public async Task BackupThenRestore_WhileTrafficAndAdminWritesFlow_KeysOfTheBackupWorkAfterRestore()
    {
        using var upstream = Upstream.Start();
        var routes = GatewayHost.Routes(upstream.Url, ("api", "/api/{**rest}", []));
        var directory = Path.Combine(Path.GetTempPath(), "gw-tests", Guid.NewGuid().ToString("N"));
        var store = Path.Combine(directory, "gateway.db");
        var before = Path.Combine(_backups, "before.db");
        var after = Path.Combine(_backups, "after.db");
        string kept, keptId, lost;

        await using (var gateway = await GatewayHost.StartAsync(routes, directory: directory))
        {
            var org = await gateway.CreateOrgAsync("acme");
            kept = org.DefaultKey();
            keptId = org.DefaultKeyId();

            // Proxied requests and admin writes run for the whole backup.
            using var stop = new CancellationTokenSource();
            var traffic = Task.Run(async () =>
            {
                var (calls, writes) = (0, 0);
                while (!stop.IsCancellationRequested || calls == 0 || writes == 0)
                {
                    Assert.That(await gateway.StatusAsync(kept, "/api/x"), Is.EqualTo(HttpStatusCode.OK));
                    await gateway.CreateKeyAsync("acme", new { name = $"k{writes++}" });
                    calls++;
                }

                return writes;
            });
            await Eventually(() => upstream.Received.Count >= 3);

            var (code, output, error) = await RunAsync("backup", before, "--store", store);
            Assert.That(code, Is.Zero, error);
            Assert.That(output, Does.Contain($"schema version {Gateway.Stores.Sqlite.SqliteGatewayStore.SchemaVersion}"));
            await stop.CancelAsync();
            var written = await traffic;

            // One snapshot: every key in the copy came with its audit entry, written in the same transaction.
            using (var copy = new SqliteConnection($"Data Source={before};Mode=ReadOnly;Pooling=False"))
            {
                copy.Open();
                var keys = Count(copy, "SELECT count(*) FROM keys;");
                Assert.That(keys, Is.InRange(1, written + 1));
                Assert.That(Count(copy, "SELECT count(*) FROM keys k WHERE (SELECT count(*) FROM audit a WHERE a.key_id = k.id AND a.action IN ('key.create', 'org.create')) = 0 AND k.is_default = 0;"), Is.Zero);
                Assert.That(Count(copy, "SELECT count(*) FROM audit WHERE action = 'key.create';"), Is.EqualTo(keys - 1));
            }

            Assert.That(File.Exists(before + "-wal"), Is.False, "a backup is one self-contained file");

            // A key created after the backup is in the later state only.
            lost = (await gateway.CreateKeyAsync("acme", new { name = "after_backup" })).Str("key");

            // The store is in use by the running gateway: restore refuses and changes nothing.
            var refused = await RunAsync("restore", before, "--store", store);
            Assert.That(refused.Code, Is.EqualTo(1));
            Assert.That(refused.Error, Does.Contain("in use"));
            Assert.That(await gateway.StatusAsync(lost, "/api/x"), Is.EqualTo(HttpStatusCode.OK));

            Assert.That((await RunAsync("backup", after, "--store", store)).Code, Is.Zero);
        }

        // The gateway is gone with its directory: restore the later state, then roll back over it to the earlier one.
        // Its process would have ended; here the in-process pool still holds connections to the deleted file.
        SqliteConnection.ClearAllPools();
        Assert.That(File.Exists(store), Is.False);
        Assert.That((await RunAsync("restore", after, "--store", store)).Code, Is.Zero);
        var restored = await RunAsync("restore", before, "--store", store);
        Assert.That(restored.Code, Is.Zero, restored.Error);

        await using (var gateway = await GatewayHost.StartAsync(routes, directory: directory))
        {
            Assert.That(await gateway.StatusAsync(kept, "/api/x"), Is.EqualTo(HttpStatusCode.OK));
            Assert.That(await gateway.CodeAsync(lost, "/api/x"), Is.EqualTo("invalid_key"));
            var key = await gateway.AdminGetAsync($"admin/keys/{keptId}");
            Assert.That(key.Str("status"), Is.EqualTo("active"));

            // Admin writes work on the restored store.
            var fresh = (await gateway.CreateKeyAsync("acme", new { name = "after_restore" })).Str("key");
            Assert.That(await gateway.StatusAsync(fresh, "/api/x"), Is.EqualTo(HttpStatusCode.OK));
        }
    }

    [Test]
    public async Task Backup_TargetExists_RefusesAndLeavesItAlone()
    {
        await using var gateway = await GatewayHost.StartAsync();
        var target = Path.Combine(_backups, "exists.db");
        await File.WriteAllTextAsync(target, "precious");

        var (code, _, error) = await RunAsync("backup", target, "--store", Path.Combine(gateway.Directory, "gateway.db"));

        Assert.That(code, Is.EqualTo(1));
        Assert.That(error, Does.Contain("exists"));
        Assert.That(await File.ReadAllTextAsync(target), Is.EqualTo("precious"));
    }

    [Test]
    public async Task Restore_AfterTheGatewayThatLookedUpKeysStopped_NoFileLeftOpen()
    {
        // The key lookup keeps connections of its own between requests: stopping the gateway must close them.
        using var upstream = Upstream.Start();
        var routes = GatewayHost.Routes(upstream.Url, ("api", "/api/{**rest}", []));
        var directory = Path.Combine(Path.GetTempPath(), "gw-tests", Guid.NewGuid().ToString("N"));
        var store = Path.Combine(directory, "gateway.db");
        var backup = Path.Combine(_backups, "stopped.db");
        await using (var gateway = await GatewayHost.StartAsync(routes, directory: directory))
        {
            var key = (await gateway.CreateOrgAsync("acme")).DefaultKey();
            Assert.That(await gateway.StatusAsync(key, "/api/x"), Is.EqualTo(HttpStatusCode.OK));
            Assert.That((await RunAsync("backup", backup, "--store", store)).Code, Is.Zero);
        }

        // What Microsoft.Data.Sqlite's pool keeps open is closed (as when the process ends); the store's own must be
        // closed already. SQLite's locks do not tell connections of one process apart, so the open files are counted.
        SqliteConnection.ClearAllPools();
        var open = new DirectoryInfo("/proc/self/fd").EnumerateFileSystemInfos()
            .Select(fd => fd.LinkTarget)
            .Count(target => target is not null && target.StartsWith(store, StringComparison.Ordinal));
        Assert.That(open, Is.Zero, "file handles on the store, its -wal or -shm after the gateway stopped");
        var restored = await RunAsync("restore", backup, "--store", store);
        Assert.That(restored.Code, Is.Zero, restored.Error);
    }

    [TestCase("not a database at all")]
    [TestCase("sqlite-without-gateway-tables")]
    [TestCase("future-schema")]
    public async Task Restore_FileIsNotASupportedGatewayStore_RefusesAndLeavesStoreAlone(string kind)
    {
        var store = Path.Combine(_backups, "store.db");
        var source = Path.Combine(_backups, "source.db");
        string original;
        await using (var gateway = await GatewayHost.StartAsync())
        {
            await gateway.CreateOrgAsync("acme");
            Assert.That((await RunAsync("backup", store, "--store", Path.Combine(gateway.Directory, "gateway.db"))).Code, Is.Zero);
            original = Convert.ToHexString(await File.ReadAllBytesAsync(store));
        }

        if (kind == "future-schema")
        {
            File.Copy(store, source);
            using var connection = new SqliteConnection($"Data Source={source};Pooling=False");
            connection.Open();
            using var command = connection.CreateCommand();
            command.CommandText = "PRAGMA user_version = 999;";
            command.ExecuteNonQuery();
        }
        else if (kind == "sqlite-without-gateway-tables")
        {
            using var connection = new SqliteConnection($"Data Source={source};Pooling=False");
            connection.Open();
            using var command = connection.CreateCommand();
            command.CommandText = "CREATE TABLE notes (text TEXT); PRAGMA user_version = 1;";
            command.ExecuteNonQuery();
        }
        else
        {
            await File.WriteAllTextAsync(source, kind);
        }

        var (code, _, error) = await RunAsync("restore", source, "--store", store);

        Assert.That(code, Is.EqualTo(1));
        Assert.That(error, Does.Contain(kind == "future-schema" ? "schema version 999" : "not a gateway store"));
        Assert.That(Convert.ToHexString(await File.ReadAllBytesAsync(store)), Is.EqualTo(original));
    }

    private static long Count(SqliteConnection connection, string sql)
    {
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        var value = command.ExecuteScalar();
        return value is long number ? number : 0;
    }

    private static async Task Eventually(Func<bool> condition) =>
        await GatewayHost.WaitForAsync(() => Task.FromResult(condition()), TimeSpan.FromSeconds(30));

    private static async Task<(int Code, string Output, string Error)> RunAsync(params string[] args)
    {
        var output = new StringWriter();
        var error = new StringWriter();
        var code = await AdminCli.RunAsync(args, output, error);
        return (code, output.ToString(), error.ToString());
    }
}
