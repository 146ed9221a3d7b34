using Gateway.Admin;
using Gateway.Configuration;
using Gateway.Domain;
using Gateway.Stores;
using Gateway.Stores.Sqlite;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Options;

namespace Gateway.Operators;

/// <summary>Operator tokens in the <c>operator_tokens</c> table of the embedded store (schema version 5).</summary>
internal sealed class SqliteOperatorTokenStore(IOptions<GatewayOptions> options) : IOperatorTokenStore
{
    private const string Columns = "id, name, role, org_id, hash, prefix, created_by, created_at, expires_at, last_used_at, revoked_at";

    private readonly SqliteDatabase _database = new(options.Value.Store.Path, SqliteOpenMode.ReadWrite);

    public async Task CreateAsync(OperatorToken token, AuditEntry audit, CancellationToken cancellationToken)
    {
        await using var connection = await _database.OpenAsync(cancellationToken);
        await using var tx = (SqliteTransaction)await connection.BeginTransactionAsync(cancellationToken);
        await using var command = connection.CreateCommand();
        command.Transaction = tx;
        // One statement, so the check and the insert are atomic. A live name is unique within its organization and
        // among organization-less tokens, whose names also appear in every organization's audit log; another
        // organization's names are not this one's concern, nor visible to it.
        command.CommandText = $"""
            INSERT INTO operator_tokens ({Columns})
            SELECT $id, $name, $role, $org, $hash, $prefix, $createdBy, $createdAt, $expiresAt, NULL, NULL
            WHERE NOT EXISTS (
              SELECT 1 FROM operator_tokens
              WHERE name = $name AND revoked_at IS NULL AND ($org IS NULL OR org_id IS NULL OR org_id = $org));
            """;
        command.Parameters.AddWithValue("$id", token.Id);
        command.Parameters.AddWithValue("$name", token.Name);
        command.Parameters.AddWithValue("$role", token.Role.Name());
        command.Parameters.AddWithValue("$org", (object?)token.Org ?? DBNull.Value);
        command.Parameters.AddWithValue("$hash", token.Hash);
        command.Parameters.AddWithValue("$prefix", token.Prefix);
        command.Parameters.AddWithValue("$createdBy", (object?)token.CreatedBy ?? DBNull.Value);
        command.Parameters.AddWithValue("$createdAt", token.CreatedAt.ToUnixTimeMilliseconds());
        command.Parameters.AddWithValue("$expiresAt", (object?)token.ExpiresAt?.ToUnixTimeMilliseconds() ?? DBNull.Value);
        if (await command.ExecuteNonQueryAsync(cancellationToken) == 0)
        {
            throw new StoreConflictException("name", $"An admin token named '{token.Name}' exists.");
        }

        await InsertAuditAsync(connection, tx, audit, cancellationToken);
        await tx.CommitAsync(cancellationToken);
    }

    public Task<OperatorToken?> FindByHashAsync(string hash, CancellationToken cancellationToken) =>
        SingleAsync("hash = $value", hash, cancellationToken);

    public Task<OperatorToken?> GetAsync(string id, CancellationToken cancellationToken) =>
        SingleAsync("id = $value", id, cancellationToken);

    public Task<IReadOnlyList<OperatorToken>> ListAsync(CancellationToken cancellationToken) =>
        ListAfterAsync(null, null, null, cancellationToken);

    public async Task<IReadOnlyList<OperatorToken>> ListAfterAsync(string? org, TimeIdPosition? after, int? count, CancellationToken cancellationToken)
    {
        await using var connection = await _database.OpenAsync(cancellationToken);
        await using var command = connection.CreateCommand();
        // No index orders the table: operator tokens are few, and LIMIT still keeps the answer to the page.
        command.CommandText = $"SELECT {Columns} FROM operator_tokens WHERE ($org IS NULL OR org_id = $org)"
            + (after is null ? "" : " AND (created_at, id) > ($at, $id)")
            + " ORDER BY created_at, id LIMIT $count;";
        command.Parameters.AddWithValue("$org", (object?)org ?? DBNull.Value);
        if (after is not null)
        {
            command.Parameters.AddWithValue("$at", after.AtMillis);
            command.Parameters.AddWithValue("$id", after.Id);
        }

        command.Parameters.AddWithValue("$count", count ?? -1);
        var tokens = new List<OperatorToken>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            tokens.Add(Read(reader));
        }

        return tokens;
    }

    public async Task<OperatorToken?> RevokeAsync(string id, DateTimeOffset at, Func<OperatorToken, AuditEntry> audit, CancellationToken cancellationToken)
    {
        await using (var connection = await _database.OpenAsync(cancellationToken))
        await using (var tx = (SqliteTransaction)await connection.BeginTransactionAsync(cancellationToken))
        {
            int changed;
            await using (var command = connection.CreateCommand())
            {
                command.Transaction = tx;
                command.CommandText = "UPDATE operator_tokens SET revoked_at = $at WHERE id = $id AND revoked_at IS NULL;";
                command.Parameters.AddWithValue("$id", id);
                command.Parameters.AddWithValue("$at", at.ToUnixTimeMilliseconds());
                changed = await command.ExecuteNonQueryAsync(cancellationToken);
            }

            if (changed == 1)
            {
                await using var read = connection.CreateCommand();
                read.Transaction = tx;
                read.CommandText = $"SELECT {Columns} FROM operator_tokens WHERE id = $value;";
                read.Parameters.AddWithValue("$value", id);
                OperatorToken token;
                await using (var reader = await read.ExecuteReaderAsync(cancellationToken))
                {
                    await reader.ReadAsync(cancellationToken);
                    token = Read(reader);
                }

                await InsertAuditAsync(connection, tx, audit(token), cancellationToken);
            }

            await tx.CommitAsync(cancellationToken);
        }

        return await GetAsync(id, cancellationToken);
    }

    private static Task InsertAuditAsync(SqliteConnection connection, SqliteTransaction tx, AuditEntry audit, CancellationToken cancellationToken) =>
        SqliteAudit.InsertAsync(connection, tx, audit, cancellationToken);

    public async Task RecordUseAsync(string id, DateTimeOffset at, CancellationToken cancellationToken)
    {
        await using var connection = await _database.OpenAsync(cancellationToken);
        await using var command = connection.CreateCommand();
        command.CommandText = "UPDATE operator_tokens SET last_used_at = $at WHERE id = $id AND (last_used_at IS NULL OR last_used_at < $at);";
        command.Parameters.AddWithValue("$id", id);
        command.Parameters.AddWithValue("$at", at.ToUnixTimeMilliseconds());
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    private async Task<OperatorToken?> SingleAsync(string where, string value, CancellationToken cancellationToken)
    {
        await using var connection = await _database.OpenAsync(cancellationToken);
        await using var command = connection.CreateCommand();
        command.CommandText = $"SELECT {Columns} FROM operator_tokens WHERE {where};";
        command.Parameters.AddWithValue("$value", value);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        return await reader.ReadAsync(cancellationToken) ? Read(reader) : null;
    }

    private static OperatorToken Read(SqliteDataReader reader) => new(
        reader.GetString(0),
        reader.GetString(1),
        AdminRoles.Parse(reader.GetString(2)) ?? throw new InvalidOperationException($"Admin token '{reader.GetString(0)}' has an unknown role."),
        reader.IsDBNull(3) ? null : reader.GetString(3),
        reader.GetString(4),
        reader.GetString(5),
        reader.IsDBNull(6) ? null : reader.GetString(6),
        DateTimeOffset.FromUnixTimeMilliseconds(reader.GetInt64(7)),
        Time(reader, 8),
        Time(reader, 9),
        Time(reader, 10));

    private static DateTimeOffset? Time(SqliteDataReader reader, int ordinal) =>
        reader.IsDBNull(ordinal) ? null : DateTimeOffset.FromUnixTimeMilliseconds(reader.GetInt64(ordinal));
}
