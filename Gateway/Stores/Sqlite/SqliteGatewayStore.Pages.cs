using Gateway.Domain;

namespace Gateway.Stores.Sqlite;

internal sealed partial class SqliteGatewayStore : IGatewayListPages
{
    public async Task<IReadOnlyList<Organization>> ListOrganizationsAfterAsync(string? afterId, int? count, CancellationToken cancellationToken)
    {
        await using var connection = await OpenAsync(cancellationToken);
        await using var command = connection.CreateCommand();
        // The primary key's order is BINARY, which is ordinal for the ids the API accepts.
        command.CommandText = "SELECT id, name, created_at, default_key_id FROM orgs WHERE $after IS NULL OR id > $after ORDER BY id LIMIT $count;";
        command.Parameters.AddWithValue("$after", (object?)afterId ?? DBNull.Value);
        command.Parameters.AddWithValue("$count", count ?? -1);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        var result = new List<Organization>();
        while (await reader.ReadAsync(cancellationToken))
        {
            result.Add(ReadOrganization(reader));
        }

        return result;
    }

    public async Task<IReadOnlyList<ApiKeyRecord>> ListKeysAfterAsync(string orgId, KeyListPosition? after, int? count, CancellationToken cancellationToken)
    {
        await using var connection = await OpenAsync(cancellationToken);
        await using var command = connection.CreateCommand();
        // A row-value comparison, so ix_keys_org (org_id, created_at) finds where the page starts.
        command.CommandText = "SELECT " + SqliteKeyMapper.Columns + " FROM keys WHERE org_id = $org"
            + (after is null ? "" : " AND (created_at, id) > ($at, $id)")
            + " ORDER BY created_at, id LIMIT $count;";
        command.Parameters.AddWithValue("$org", orgId);
        if (after is not null)
        {
            command.Parameters.AddWithValue("$at", after.CreatedAtMillis);
            command.Parameters.AddWithValue("$id", after.Id);
        }

        command.Parameters.AddWithValue("$count", count ?? -1);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        var result = new List<ApiKeyRecord>();
        while (await reader.ReadAsync(cancellationToken))
        {
            result.Add(SqliteKeyMapper.Read(reader));
        }

        return result;
    }
}
