using Gateway.Configuration;
using Gateway.Stores;
using Gateway.Stores.Sqlite;
using Gateway.Tests.Common;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Options;

namespace Gateway.Tests.Stores;

/// <summary>
/// The embedded store's background writes on one connection and one thread: one after another in the order they
/// came, never on a pool thread, on a connection kept between writes (so its page cache is), opened again after a
/// failed write, and closed when the writer is.
/// </summary>
[NonParallelizable]
public sealed class SqliteBackgroundWriterTests
{
    private string _directory = null!;
    private string _path = null!;

    [SetUp]
    public void SetUp()
    {
        _directory = Path.Combine(Path.GetTempPath(), "gw-tests", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(_directory);
        _path = Path.Combine(_directory, "gateway.db");
        using var connection = SqliteCommands.Open(_path);
        connection.Execute("PRAGMA journal_mode=WAL; CREATE TABLE t (n INTEGER NOT NULL);");
    }

    [TearDown]
    public void TearDown()
    {
        SqliteConnection.ClearAllPools();
        Directory.Delete(_directory, recursive: true);
    }

    [Test]
    public async Task Writes_RunInTheOrderQueued_OnOneThreadOutsideThePool_OnOneConnection()
    {
        using var writer = Writer();
        var threads = new List<(int Thread, bool Pool)>();
        var connections = new HashSet<SqliteConnection>(ReferenceEqualityComparer.Instance);
        var writes = Enumerable.Range(0, 200).Select(i => writer.RunAsync(connection =>
        {
            threads.Add((Environment.CurrentManagedThreadId, Thread.CurrentThread.IsThreadPoolThread));
            connections.Add(connection);
            Insert(connection, i);
        }, CancellationToken.None)).ToList();
        await Task.WhenAll(writes);

        Assert.That(Rows(), Is.EqualTo(Enumerable.Range(0, 200)), "in the order queued");
        Assert.That(threads.Select(t => t.Thread).Distinct().Count(), Is.EqualTo(1), "one thread");
        Assert.That(threads.Any(t => t.Pool), Is.False, "never a pool thread");
        Assert.That(connections, Has.Count.EqualTo(1), "one connection, kept between writes");
    }

    [Test]
    public async Task Connection_CommitsWithoutWaitingForTheDisk_PooledConnectionsKeepTheirSetting()
    {
        using var writer = Writer();
        var (synchronous, cacheSize) = await writer.RunAsync(connection => (Pragma(connection, "synchronous"), Pragma(connection, "cache_size")), CancellationToken.None);
        Assert.That(synchronous, Is.EqualTo(1), "NORMAL");
        Assert.That(cacheSize, Is.EqualTo(-SqliteBackgroundWriter.CacheKiB));

        await using var pooled = new SqliteConnection(new SqliteDatabase(_path, SqliteOpenMode.ReadWrite).ConnectionString);
        await pooled.OpenAsync();
        Assert.That(Pragma(pooled, "synchronous"), Is.EqualTo(2), "FULL, SQLite's default, on every other connection");
    }

    [Test]
    public async Task WriteThatFailed_FaultsItsTaskOnly_NextWriteOnAFreshConnection()
    {
        using var writer = Writer();
        SqliteConnection? first = null;
        await writer.RunAsync(connection => first = connection, CancellationToken.None);
        var failed = writer.RunAsync(connection => Execute(connection, "INSERT INTO missing VALUES (1);"), CancellationToken.None);
        SqliteConnection? second = null;
        var next = writer.RunAsync(connection =>
        {
            second = connection;
            Insert(connection, 7);
        }, CancellationToken.None);

        Assert.That(async () => await failed, Throws.InstanceOf<SqliteException>());
        await next;
        Assert.That(Rows(), Is.EqualTo(new[] { 7 }));
        Assert.That(second, Is.Not.SameAs(first), "the connection that failed is not reused");
    }

    [Test]
    public async Task WriteCanceledWhileQueued_NeverRuns()
    {
        using var writer = Writer();
        using var release = new ManualResetEventSlim();
        var blocking = writer.RunAsync(_ => release.Wait(TimeSpan.FromSeconds(30)), CancellationToken.None);
        using var cancel = new CancellationTokenSource();
        var canceled = writer.RunAsync(connection => Insert(connection, 1), cancel.Token);
        var after = writer.RunAsync(connection => Insert(connection, 2), CancellationToken.None);
        await cancel.CancelAsync();
        release.Set();

        await blocking;
        Assert.That(async () => await canceled, Throws.InstanceOf<OperationCanceledException>());
        await after;
        Assert.That(Rows(), Is.EqualTo(new[] { 2 }));
    }

    [Test]
    public async Task Dispose_FinishesWhatIsQueued_ClosesTheFile_RefusesLaterWrites()
    {
        var writer = Writer();
        using var release = new ManualResetEventSlim();
        var blocking = writer.RunAsync(_ => release.Wait(TimeSpan.FromSeconds(30)), CancellationToken.None);
        var queued = writer.RunAsync(connection => Insert(connection, 3), CancellationToken.None);
        var disposing = Task.Run(writer.Dispose);
        release.Set();
        await disposing;

        await blocking;
        await queued;
        Assert.That(Rows(), Is.EqualTo(new[] { 3 }));
        Assert.That(OpenFiles(), Is.Zero, "file handles on the store, its -wal or -shm after the writer closed");
        Assert.That(async () => await writer.RunAsync(connection => Insert(connection, 4), CancellationToken.None), Throws.InstanceOf<ObjectDisposedException>());
    }

    [Test]
    public void StoreThatCannotBeOpened_WriteFailsAsStoreUnavailable()
    {
        using var writer = new SqliteBackgroundWriter(Options.Create(new GatewayOptions { Store = { Path = Path.Combine(_directory, "missing", "gateway.db") } }));
        Assert.That(async () => await writer.RunAsync(connection => Insert(connection, 1), CancellationToken.None), Throws.InstanceOf<StoreUnavailableException>());
    }

    private SqliteBackgroundWriter Writer() => new(Options.Create(new GatewayOptions { Store = { Path = _path } }));

    private static void Insert(SqliteConnection connection, int n) => Execute(connection, $"INSERT INTO t (n) VALUES ({n});");

    private static void Execute(SqliteConnection connection, string sql) => connection.Execute(sql);

    private static long Pragma(SqliteConnection connection, string name) => connection.Scalar($"PRAGMA {name};");

    private List<int> Rows()
    {
        using var connection = SqliteCommands.Open(_path);
        using var command = connection.CreateCommand();
        command.CommandText = "SELECT n FROM t ORDER BY rowid;";
        using var reader = command.ExecuteReader();
        var rows = new List<int>();
        while (reader.Read())
        {
            rows.Add(reader.GetInt32(0));
        }

        return rows;
    }

    private int OpenFiles() => new DirectoryInfo("/proc/self/fd").EnumerateFileSystemInfos()
        .Select(fd => fd.LinkTarget)
        .Count(target => target is not null && target.StartsWith(_path, StringComparison.Ordinal));
}
