using Microsoft.Data.Sqlite;

namespace Gateway.Stores.Sqlite;

/// <summary>
/// The one SQLite file every embedded store shares (keys, audit, usage): how to open it and what a
/// failure to open it means, written once. Connections come from Microsoft.Data.Sqlite's pool, so
/// opening one per call is cheap.
/// </summary>
internal sealed class SqliteDatabase
{
    public SqliteDatabase(string path, SqliteOpenMode mode)
    {
        Path = System.IO.Path.GetFullPath(path);
        ConnectionString = new SqliteConnectionStringBuilder
        {
            DataSource = Path,
            Mode = mode,
            Cache = SqliteCacheMode.Private,
            Pooling = true,
            DefaultTimeout = 5,
        }.ToString();
    }

    public string Path { get; }

    public string ConnectionString { get; }

    /// <summary>An open connection, or <see cref="StoreUnavailableException"/> when the file cannot be opened.</summary>
    public async Task<SqliteConnection> OpenAsync(CancellationToken cancellationToken)
    {
        var connection = new SqliteConnection(ConnectionString);
        try
        {
            await connection.OpenAsync(cancellationToken);
            return connection;
        }
        catch (SqliteException ex)
        {
            await connection.DisposeAsync();
            throw Unavailable(ex);
        }
    }

    /// <summary>
    /// An open connection outside the pool, set up by <paramref name="setUp"/>: its settings stay its own, and closing
    /// it closes the file. <see cref="StoreUnavailableException"/> when the file cannot be opened or set up.
    /// </summary>
    public SqliteConnection OpenUnpooled(Action<SqliteConnection> setUp)
    {
        var connection = new SqliteConnection(new SqliteConnectionStringBuilder(ConnectionString) { Pooling = false }.ToString());
        try
        {
            connection.Open();
            setUp(connection);
            return connection;
        }
        catch (SqliteException ex)
        {
            connection.Dispose();
            throw Unavailable(ex);
        }
    }

    private StoreUnavailableException Unavailable(SqliteException ex) => new($"The store at '{Path}' cannot be opened.", ex);
}
