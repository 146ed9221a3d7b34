using Gateway.Domain;
using Microsoft.Data.Sqlite;

namespace Gateway.Stores.Sqlite;

internal sealed partial class SqliteGatewayStore : IKeyImportStore
{
    public async Task<int> ImportKeysAsync(IReadOnlyList<Organization> organizations, IReadOnlyList<ApiKeyRecord> keys, IReadOnlyList<AuditEntry> audit, CancellationToken cancellationToken)
    {
        await using var connection = await OpenAsync(cancellationToken);
        await using var tx = (SqliteTransaction)await connection.BeginTransactionAsync(cancellationToken);

        // An organization already stored keeps its own default key: the key meant as default for a new one is imported as an ordinary key.
        var existing = new HashSet<string>(StringComparer.Ordinal);
        await using (var command = connection.CreateCommand())
        {
            command.Transaction = tx;
            command.CommandText = "INSERT INTO orgs (id, name, created_at, default_key_id) VALUES ($id, $name, $created, $key) ON CONFLICT DO NOTHING;";
            var id = command.Parameters.Add("$id", SqliteType.Text);
            var name = command.Parameters.Add("$name", SqliteType.Text);
            var created = command.Parameters.Add("$created", SqliteType.Integer);
            var key = command.Parameters.Add("$key", SqliteType.Text);
            foreach (var organization in organizations)
            {
                (id.Value, name.Value, created.Value, key.Value) = (organization.Id, organization.Name, organization.CreatedAt.ToUnixTimeMilliseconds(), organization.DefaultKeyId);
                if (await command.ExecuteNonQueryAsync(cancellationToken) == 0)
                {
                    existing.Add(organization.Id);
                }
            }
        }

        var written = 0;
        await using (var command = connection.CreateCommand())
        {
            command.Transaction = tx;

            // DO NOTHING on any unique index: a hash, id or live name already taken skips the key, so a run can be repeated.
            command.CommandText = """
                INSERT INTO keys (id, org_id, name, prefix, hash, previous_hash, previous_hash_expires_at, environment, scopes,
                  state, is_default, description, created_by, created_at, updated_at, expires_at, last_used_at, revoked_at,
                  customer_id, rate_limit_permits, rate_limit_window_ms, allowed_cidrs, version)
                VALUES ($id, $org_id, $name, $prefix, $hash, $previous_hash, $previous_hash_expires_at, $environment, $scopes,
                  $state, $is_default, $description, $created_by, $created_at, $updated_at, $expires_at, NULL, $revoked_at,
                  $customer_id, $rate_limit_permits, $rate_limit_window_ms, $allowed_cidrs, $version)
                ON CONFLICT DO NOTHING;
                """;
            foreach (var key in keys)
            {
                command.Parameters.Clear();
                AddKeyParameters(command, key.IsDefault && existing.Contains(key.OrgId) ? key with { IsDefault = false } : key);
                written += await command.ExecuteNonQueryAsync(cancellationToken);
            }
        }

        foreach (var entry in audit)
        {
            await InsertAuditAsync(connection, tx, entry, cancellationToken);
        }

        await tx.CommitAsync(cancellationToken);
        return written;
    }
}
