using Gateway.Domain;
using Microsoft.Data.Sqlite;

namespace Gateway.Stores.Sqlite;

/// <summary>
/// Writes an audit entry into the embedded store's <c>audit</c> table. Keys, customers, operator tokens and
/// webhooks each audit a change in the same transaction as the change, so they share this one insert.
/// </summary>
internal static class SqliteAudit
{
    public static async Task InsertAsync(SqliteConnection connection, SqliteTransaction? tx, AuditEntry audit, CancellationToken cancellationToken)
    {
        await using var command = connection.CreateCommand();
        command.Transaction = tx;
        command.CommandText = "INSERT INTO audit (id, org_id, key_id, action, actor, at, changes, caller) VALUES ($id, $org, $key, $action, $actor, $at, $changes, $caller);";
        command.Parameters.AddWithValue("$id", audit.Id);
        command.Parameters.AddWithValue("$org", audit.OrgId);
        command.Parameters.AddWithValue("$key", (object?)audit.KeyId ?? DBNull.Value);
        command.Parameters.AddWithValue("$action", audit.Action);
        command.Parameters.AddWithValue("$actor", audit.Actor);
        command.Parameters.AddWithValue("$at", audit.At.ToUnixTimeMilliseconds());
        command.Parameters.AddWithValue("$changes", (object?)audit.Changes ?? DBNull.Value);
        command.Parameters.AddWithValue("$caller", (object?)audit.CallerAddress ?? DBNull.Value);
        await command.ExecuteNonQueryAsync(cancellationToken);
    }
}
