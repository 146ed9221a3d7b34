using Microsoft.Data.Sqlite;
using SQLitePCL;

namespace Gateway.Stores.Sqlite;

/// <summary>
/// One statement run once per row of a batch, through SQLite's own API, on the connection (and in the
/// transaction) it is made for. The background writer's upserts bind a few values per row: with
/// Microsoft.Data.Sqlite's parameters, binding cost more than the row's own work in SQLite.
/// </summary>
internal sealed class SqliteRowStatement : IDisposable
{
    private readonly sqlite3 _db;
    private readonly sqlite3_stmt _statement;

    /// <param name="sql">One statement, with numbered parameters (<c>?1</c>, <c>?2</c>, ...).</param>
    public SqliteRowStatement(SqliteConnection connection, string sql)
    {
        _db = connection.Handle!;
        SqliteException.ThrowExceptionForRC(raw.sqlite3_prepare_v2(_db, sql, out _statement), _db);
    }

    public void Bind(int index, long value) => raw.sqlite3_bind_int64(_statement, index, value);

    public void Bind(int index, string? value)
    {
        if (value is null)
        {
            raw.sqlite3_bind_null(_statement, index);
        }
        else
        {
            raw.sqlite3_bind_text16(_statement, index, value.AsSpan());
        }
    }

    /// <summary>Binds text already encoded as UTF-8 (SQLite copies it).</summary>
    public void BindUtf8(int index, ReadOnlySpan<byte> value) => raw.sqlite3_bind_text(_statement, index, value);

    /// <summary>Runs the statement with what is bound, and makes it ready for the next row.</summary>
    public void Run()
    {
        var rc = raw.sqlite3_step(_statement);
        raw.sqlite3_reset(_statement);
        if (rc != raw.SQLITE_DONE)
        {
            SqliteException.ThrowExceptionForRC(rc, _db);
        }
    }

    public void Dispose() => _statement.Dispose();
}
