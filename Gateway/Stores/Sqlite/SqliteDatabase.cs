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
            throw new StoreUnavailableException($"The store at '{Path}' cannot be opened.", ex);
        }
    }
}
