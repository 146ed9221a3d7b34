using System.Collections.Concurrent;
using Gateway.Domain;
using Microsoft.Data.Sqlite;

namespace Gateway.Stores.Sqlite;

/// <summary>
/// The key lookup's own connections, each with its two statements prepared once. Microsoft.Data.Sqlite prepares a
/// command's SQL again for every new command, which was most of a cache miss's store read once rows were read by
/// position (docs/performance.md). Up to <see cref="Kept"/> readers wait between lookups, about as many as run at
/// once on a small machine; a lookup finding none opens another and closes it after when enough are waiting.
/// Closed with the store. A reader that failed is closed, not reused.
/// </summary>
internal sealed class SqliteKeyReaders(SqliteDatabase database) : IDisposable
{
    private const int Kept = 8;
    private readonly ConcurrentBag<Reader> _idle = [];
    private int _idleCount;
    private bool _disposed;

    public async Task<ApiKeyRecord?> FindAsync(string hash, CancellationToken cancellationToken)
    {
        var reader = Rent() ?? await Reader.OpenAsync(database, cancellationToken);
        ApiKeyRecord? found;
        try
        {
            found = reader.Find(hash);
        }
        catch
        {
            reader.Dispose();
            throw;
        }

        Return(reader);
        return found;
    }

    public void Dispose()
    {
        Volatile.Write(ref _disposed, true);
        while (_idle.TryTake(out var reader))
        {
            reader.Dispose();
        }
    }

    private Reader? Rent()
    {
        if (_idle.TryTake(out var reader))
        {
            Interlocked.Decrement(ref _idleCount);
            return reader;
        }

        return null;
    }

    private void Return(Reader reader)
    {
        if (Volatile.Read(ref _disposed))
        {
            reader.Dispose();
            return;
        }

        if (Interlocked.Increment(ref _idleCount) > Kept)
        {
            Interlocked.Decrement(ref _idleCount);
            reader.Dispose();
            return;
        }

        _idle.Add(reader);

        // Disposed meanwhile: what was just added must not outlive the store.
        if (Volatile.Read(ref _disposed))
        {
            Dispose();
        }
    }

    private sealed class Reader : IDisposable
    {
        private readonly SqliteConnection _connection;
        private readonly SqliteCommand _byHash;
        private readonly SqliteCommand _byPreviousHash;

        private Reader(SqliteConnection connection)
        {
            _connection = connection;

            // Nearly every lookup is by a key's current hash: one indexed read. Only when no key has it is the hash
            // looked for as a previous one (a rotation's grace period). One UNION ALL over both took about a third
            // longer per found key (bench --key-cache, docs/performance.md).
            _byHash = Prepare(connection, "SELECT " + SqliteKeyMapper.Columns + " FROM keys WHERE hash = $p;");
            _byPreviousHash = Prepare(connection, "SELECT " + SqliteKeyMapper.Columns + " FROM keys WHERE previous_hash = $p LIMIT 1;");
        }

        public static async Task<Reader> OpenAsync(SqliteDatabase database, CancellationToken cancellationToken)
        {
            var connection = await database.OpenAsync(cancellationToken);
            try
            {
                return new Reader(connection);
            }
            catch
            {
                await connection.DisposeAsync();
                throw;
            }
        }

        /// <summary>SQLite answers synchronously (Microsoft.Data.Sqlite's async methods do too): no await, no state machine.</summary>
        public ApiKeyRecord? Find(string hash) => Read(_byHash, hash) ?? Read(_byPreviousHash, hash);

        public void Dispose()
        {
            _byHash.Dispose();
            _byPreviousHash.Dispose();
            _connection.Dispose();
        }

        private static SqliteCommand Prepare(SqliteConnection connection, string sql)
        {
            var command = connection.CreateCommand();
            command.CommandText = sql;
            command.Parameters.Add("$p", SqliteType.Text);
            command.Prepare();
            return command;
        }

        private static ApiKeyRecord? Read(SqliteCommand command, string hash)
        {
            command.Parameters[0].Value = hash;
            using var reader = command.ExecuteReader();
            return reader.Read() ? SqliteKeyMapper.Read(reader) : null;
        }
    }
}
