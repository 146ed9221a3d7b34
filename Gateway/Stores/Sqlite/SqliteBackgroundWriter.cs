using System.Collections.Concurrent;
using Gateway.Configuration;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Options;

namespace Gateway.Stores.Sqlite;

/// <summary>
/// The embedded store's background writes (usage counts, last-used times, the request log) on one connection and one
/// thread of their own, one after another. Each used to take a pooled connection on a pool thread, and with many keys
/// in use that cost more than the proxying (docs/performance.md): the writers waited for SQLite's one write lock in its
/// busy handler and for the disk while holding pool threads, which on two cores left requests queued behind them; and
/// each write began with an empty page cache, because a connection drops its cache whenever another one has written,
/// so every page it touched was read again from the file. One writer never waits for another and keeps its cache.
/// Its commits do not wait for the disk (synchronous=NORMAL in WAL mode): a power cut may lose the last of these
/// writes, never the file's consistency, and a crash loses what is still in memory before they run anyway.
/// </summary>
internal sealed class SqliteBackgroundWriter : IDisposable
{
    /// <summary>The writer's page cache: the pages of the tables it writes, kept between writes.</summary>
    public const int CacheKiB = 16 * 1024;

    private readonly BlockingCollection<Work> _queue = new();
    private readonly SqliteDatabase _database;
    private readonly Lock _gate = new();
    private Thread? _thread;
    private bool _disposed;

    public SqliteBackgroundWriter(IOptions<GatewayOptions> options)
    {
        _database = new SqliteDatabase(options.Value.Store.Path, SqliteOpenMode.ReadWrite);
    }

    /// <summary>Runs <paramref name="write"/> on the writer's connection after the writes queued before it.</summary>
    public Task<T> RunAsync<T>(Func<SqliteConnection, T> write, CancellationToken cancellationToken)
    {
        var work = new Work<T>(write, cancellationToken);
        lock (_gate)
        {
            if (_disposed)
            {
                return Task.FromException<T>(new ObjectDisposedException(nameof(SqliteBackgroundWriter)));
            }

            _thread ??= Start();
            _queue.Add(work, CancellationToken.None);
        }

        return work.Task;
    }

    public Task RunAsync(Action<SqliteConnection> write, CancellationToken cancellationToken) =>
        RunAsync(connection =>
        {
            write(connection);
            return true;
        }, cancellationToken);

    /// <summary>Lets the queued writes finish, then closes the connection.</summary>
    public void Dispose()
    {
        Thread? thread;
        lock (_gate)
        {
            if (_disposed)
            {
                return;
            }

            _disposed = true;
            _queue.CompleteAdding();
            thread = _thread;
        }

        thread?.Join();
        _queue.Dispose();
    }

    private Thread Start()
    {
        var thread = new Thread(Loop) { IsBackground = true, Name = "SQLite writer" };
        thread.Start();
        return thread;
    }

    private void Loop()
    {
        SqliteConnection? connection = null;
        try
        {
            foreach (var work in _queue.GetConsumingEnumerable())
            {
                if (work.TryCancel())
                {
                    continue;
                }

                try
                {
                    connection ??= Open();
                    work.Run(connection);
                }
                catch (Exception ex)
                {
                    // A connection that failed a write is not trusted with the next one: it is opened again.
                    if (ex is SqliteException)
                    {
                        connection?.Dispose();
                        connection = null;
                    }

                    work.Fail(ex);
                }
            }
        }
        finally
        {
            connection?.Dispose();
        }
    }

    private SqliteConnection Open() => _database.OpenUnpooled(connection =>
    {
        using var command = connection.CreateCommand();
        command.CommandText = $"PRAGMA synchronous = NORMAL; PRAGMA cache_size = -{CacheKiB};";
        command.ExecuteNonQuery();
    });

    private abstract class Work
    {
        /// <summary>Cancels the write if its caller gave up while it was queued; true if so, and it must not run.</summary>
        public abstract bool TryCancel();

        public abstract void Run(SqliteConnection connection);

        public abstract void Fail(Exception exception);
    }

    private sealed class Work<T>(Func<SqliteConnection, T> write, CancellationToken cancellationToken) : Work
    {
        private readonly TaskCompletionSource<T> _done = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public Task<T> Task => _done.Task;

        public override bool TryCancel() => cancellationToken.IsCancellationRequested && _done.TrySetCanceled(cancellationToken);

        public override void Run(SqliteConnection connection) => _done.TrySetResult(write(connection));

        public override void Fail(Exception exception) => _done.TrySetException(exception);
    }
}
