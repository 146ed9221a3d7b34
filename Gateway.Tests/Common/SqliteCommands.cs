using Microsoft.Data.Sqlite;

namespace Gateway.Tests.Common;

/// <summary>Raw SQL on a store file, for tests that set up or inspect what the gateway wrote.</summary>
public static class SqliteCommands
{
    /// <summary>An open connection outside the pool, so closing it closes the file.</summary>
    public static SqliteConnection Open(string path)
    {
        var connection = new SqliteConnection($"Data Source={path};Pooling=False");
        connection.Open();
        return connection;
    }

    public static void Execute(this SqliteConnection connection, string sql)
    {
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        command.ExecuteNonQuery();
    }

    public static long Scalar(this SqliteConnection connection, string sql)
    {
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        return (long)command.ExecuteScalar()!;
    }
}
