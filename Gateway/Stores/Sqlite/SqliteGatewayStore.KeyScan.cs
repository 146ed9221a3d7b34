using System.Runtime.CompilerServices;
using Gateway.Domain;

namespace Gateway.Stores.Sqlite;

internal sealed partial class SqliteGatewayStore : IKeyScan
{
    public async IAsyncEnumerable<ApiKeyRecord> ReadUsableKeysAsync(DateTimeOffset now, int max, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        // One statement over the whole table: SQLite sorts it once and the rows stream from there. In WAL mode this
        // reader holds up no writer; the WAL is not checkpointed past it until it ends (24 s at 900,000 keys here).
        await using var connection = await OpenAsync(cancellationToken);
        await using var command = connection.CreateCommand();
        command.CommandText = "SELECT " + SqliteKeyMapper.Columns + " FROM keys WHERE state = 'active' AND (expires_at IS NULL OR expires_at > $now) "
            + "ORDER BY (SELECT at FROM key_last_used WHERE key_last_used.id = keys.id) DESC NULLS LAST, id LIMIT $max;";
        command.Parameters.AddWithValue("$now", now.ToUnixTimeMilliseconds());
        command.Parameters.AddWithValue("$max", max);
        await using var reader = await ExecuteKeyReadAsync(command, cancellationToken);
        while (await NextKeyAsync(reader, cancellationToken) is { } record)
        {
            yield return record;
        }
    }

    private async Task<Microsoft.Data.Sqlite.SqliteDataReader> ExecuteKeyReadAsync(Microsoft.Data.Sqlite.SqliteCommand command, CancellationToken cancellationToken)
    {
        try
        {
            return await command.ExecuteReaderAsync(cancellationToken);
        }
        catch (Exception ex) when (IsDamage(ex))
        {
            throw Damaged(ex);
        }
    }

    private async Task<ApiKeyRecord?> NextKeyAsync(Microsoft.Data.Sqlite.SqliteDataReader reader, CancellationToken cancellationToken)
    {
        try
        {
            return await reader.ReadAsync(cancellationToken) ? SqliteKeyMapper.Read(reader) : null;
        }
        catch (Exception ex) when (IsDamage(ex))
        {
            throw Damaged(ex);
        }
    }
}
