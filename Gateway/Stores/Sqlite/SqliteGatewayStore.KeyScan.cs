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
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            yield return SqliteKeyMapper.Read(reader);
        }
    }
}
