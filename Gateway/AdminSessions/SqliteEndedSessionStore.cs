using Gateway.Configuration;
using Gateway.Stores.Sqlite;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Options;

namespace Gateway.AdminSessions;

/// <summary>Ended console sessions in the <c>ended_admin_sessions</c> table of the embedded store (schema version 11).</summary>
internal sealed class SqliteEndedSessionStore(IOptions<GatewayOptions> options, TimeProvider time) : IEndedSessionStore
{
    private readonly SqliteDatabase _database = new(options.Value.Store.Path, SqliteOpenMode.ReadWrite);

    public async Task EndAsync(string sessionId, DateTimeOffset until, CancellationToken cancellationToken)
    {
        await using var connection = await _database.OpenAsync(cancellationToken);
        await using var command = connection.CreateCommand();

        // Sign-outs are rare: the rows past their time go with the next one, so the table holds only live sessions' ids.
        command.CommandText = """
            DELETE FROM ended_admin_sessions WHERE until_ms <= $now;
            INSERT INTO ended_admin_sessions (id, until_ms) VALUES ($id, $until)
              ON CONFLICT(id) DO UPDATE SET until_ms = max(until_ms, excluded.until_ms);
            """;
        command.Parameters.AddWithValue("$id", sessionId);
        command.Parameters.AddWithValue("$until", until.ToUnixTimeMilliseconds());
        command.Parameters.AddWithValue("$now", time.GetUtcNow().ToUnixTimeMilliseconds());
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    public async Task<bool> IsEndedAsync(string sessionId, DateTimeOffset now, CancellationToken cancellationToken)
    {
        await using var connection = await _database.OpenAsync(cancellationToken);
        await using var command = connection.CreateCommand();
        command.CommandText = "SELECT 1 FROM ended_admin_sessions WHERE id = $id AND until_ms > $now;";
        command.Parameters.AddWithValue("$id", sessionId);
        command.Parameters.AddWithValue("$now", now.ToUnixTimeMilliseconds());
        return await command.ExecuteScalarAsync(cancellationToken) is not null;
    }
}
