using Gateway.Cli;
using Gateway.Tests.Common;
using Microsoft.Data.Sqlite;

namespace Gateway.Tests.Stores;

/// <summary>
/// The embedded store holds every key hash, the audit log and usage: on disk its directory is 0700 and its
/// files (the store, its -wal and -shm, backups) are 0600, whatever the umask (the test process runs with
/// 022, which would leave 0755 and 0644), and a store left readable by an older version is tightened at start.
/// </summary>
[Platform(Exclude = "Win")]
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
public sealed class SqliteFileModeTests
{
    private const UnixFileMode Private = UnixFileMode.UserRead | UnixFileMode.UserWrite;
    private const UnixFileMode PrivateDirectory = Private | UnixFileMode.UserExecute;

    private string _root = null!;

    [SetUp]
    public void SetUp()
    {
        _root = Path.Combine(Path.GetTempPath(), "gw-tests", "modes-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(_root);
    }

    [TearDown]
    public void TearDown()
    {
        SqliteConnection.ClearAllPools();
        Directory.Delete(_root, recursive: true);
    }

    [Test]
    public async Task Start_NewStore_DirectoryIs0700_StoreWalAndShmAre0600AfterAWrite()
    {
        var data = Path.Combine(_root, "data");
        var store = Path.Combine(data, "gateway.db");
        await using var gateway = await GatewayHost.StartAsync(new Dictionary<string, string?> { ["Gateway:Store:Path"] = store }, directory: Path.Combine(_root, "host"));

        Assert.That(Mode(data), Is.EqualTo(PrivateDirectory), "created by the gateway");
        Assert.That(Mode(store), Is.EqualTo(Private));

        using var held = HoldOpen(store);
        await gateway.CreateOrgAsync("acme");

        Assert.That(File.Exists(store + "-wal") && File.Exists(store + "-shm"), Is.True, "WAL mode, open");
        Assert.That(Mode(store + "-wal"), Is.EqualTo(Private));
        Assert.That(Mode(store + "-shm"), Is.EqualTo(Private));
        Assert.That(Mode(store), Is.EqualTo(Private));
    }

    [Test]
    public async Task Start_StoreLeftReadableByAnOlderVersion_IsTightened()
    {
        var data = Path.Combine(_root, "data");
        var store = Path.Combine(data, "gateway.db");
        Directory.CreateDirectory(data);
        File.SetUnixFileMode(data, PrivateDirectory | UnixFileMode.GroupRead | UnixFileMode.GroupExecute | UnixFileMode.OtherRead | UnixFileMode.OtherExecute);
        using (var old = new SqliteConnection($"Data Source={store};Pooling=False"))
        {
            old.Open();
            using var command = old.CreateCommand();
            command.CommandText = "PRAGMA journal_mode=WAL; CREATE TABLE t (x); INSERT INTO t VALUES (1);";
            command.ExecuteNonQuery();
        }

        File.SetUnixFileMode(store, Private | UnixFileMode.GroupRead | UnixFileMode.OtherRead);
        Assert.That(Mode(store), Is.EqualTo((UnixFileMode)0b110_100_100), "0644 as an older version left it");

        await using var gateway = await GatewayHost.StartAsync(new Dictionary<string, string?> { ["Gateway:Store:Path"] = store }, directory: Path.Combine(_root, "host"));
        using var held = HoldOpen(store);
        await gateway.CreateOrgAsync("acme");

        Assert.That(Mode(data), Is.EqualTo(PrivateDirectory));
        Assert.That(Mode(store), Is.EqualTo(Private));
        Assert.That(Mode(store + "-wal"), Is.EqualTo(Private));
        Assert.That(Mode(store + "-shm"), Is.EqualTo(Private));
    }

    [Test]
    public async Task Backup_AndRestoreIntoANewStore_Are0600()
    {
        var data = Path.Combine(_root, "data");
        var store = Path.Combine(data, "gateway.db");
        var backup = Path.Combine(_root, "backup.db");
        await using (var gateway = await GatewayHost.StartAsync(new Dictionary<string, string?> { ["Gateway:Store:Path"] = store }, directory: Path.Combine(_root, "host")))
        {
            await gateway.CreateOrgAsync("acme");
            var (code, error) = await RunAsync("backup", backup, "--store", store);
            Assert.That(code, Is.Zero, error);
        }

        Assert.That(Mode(backup), Is.EqualTo(Private));

        var restored = Path.Combine(_root, "restored", "gateway.db");
        var (restoreCode, restoreError) = await RunAsync("restore", backup, "--store", restored);
        Assert.That(restoreCode, Is.Zero, restoreError);
        Assert.That(Mode(Path.GetDirectoryName(restored)!), Is.EqualTo(PrivateDirectory));
        Assert.That(Mode(restored), Is.EqualTo(Private));
    }

    /// <summary>
    /// SQLite deletes -wal and -shm when the last connection to the file closes, and other fixtures' tear-downs clear
    /// every connection pool in this process: a connection of the test's own keeps them while they are looked at.
    /// It must read once: a connection that has only been opened holds no lock on the file, and a closing
    /// connection that can lock it alone deletes both files (the cause of a rare failure of the WAL's mode check).
    /// </summary>
    private static SqliteConnection HoldOpen(string store)
    {
        var connection = new SqliteConnection($"Data Source={store};Pooling=False");
        connection.Open();
        using var read = connection.CreateCommand();
        read.CommandText = "SELECT count(*) FROM sqlite_master;";
        read.ExecuteScalar();
        return connection;
    }

    private static UnixFileMode Mode(string path) => File.GetUnixFileMode(path) & (UnixFileMode)0x1FF;

    private static async Task<(int Code, string Error)> RunAsync(params string[] args)
    {
        using var output = new StringWriter();
        using var error = new StringWriter();
        var code = await AdminCli.RunAsync(args, output, error);
        return (code, error.ToString());
    }
}
