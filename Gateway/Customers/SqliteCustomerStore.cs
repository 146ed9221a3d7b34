using System.Globalization;
using Gateway.Configuration;
using Gateway.Domain;
using Gateway.Stores;
using Gateway.Stores.Sqlite;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Options;

namespace Gateway.Customers;

/// <summary>Customers in the <c>customers</c> table of the embedded store (schema version 6).</summary>
internal sealed class SqliteCustomerStore(IOptions<GatewayOptions> options) : ICustomerStore
{
    private const int SqliteConstraint = 19;
    private const string Columns = "org_id, id, name, plan, rate_limit_permits, rate_limit_window_ms, quota_limit, quota_period, created_at, updated_at";

    private readonly SqliteDatabase _database = new(options.Value.Store.Path, SqliteOpenMode.ReadWrite);

    public async Task CreateAsync(Customer customer, AuditEntry? audit, CancellationToken cancellationToken)
    {
        await using var connection = await _database.OpenAsync(cancellationToken);
        await using var tx = connection.BeginTransaction();
        await using var command = connection.CreateCommand();
        command.Transaction = tx;
        command.CommandText = $"INSERT INTO customers ({Columns}) VALUES ($org, $id, $name, $plan, $permits, $window, $quota, $period, $created, $updated);";
        Bind(command, customer);
        try
        {
            await command.ExecuteNonQueryAsync(cancellationToken);
        }
        catch (SqliteException ex) when (ex.SqliteErrorCode == SqliteConstraint)
        {
            throw new StoreConflictException("id", $"Customer '{customer.Id}' exists in organization '{customer.OrgId}'.");
        }

        if (audit is not null)
        {
            await InsertAuditAsync(connection, tx, audit, cancellationToken);
        }

        await tx.CommitAsync(cancellationToken);
    }

    public async Task<Customer?> GetAsync(string orgId, string id, CancellationToken cancellationToken)
    {
        var found = await QueryAsync("WHERE org_id = $org AND id = $id", orgId, id, cancellationToken);
        return found.Count == 0 ? null : found[0];
    }

    public Task<IReadOnlyList<Customer>> ListAsync(string orgId, CancellationToken cancellationToken) =>
        ListAfterAsync(orgId, null, null, cancellationToken);

    public Task<IReadOnlyList<Customer>> ListAfterAsync(string orgId, string? afterId, int? count, CancellationToken cancellationToken) =>
        afterId is null
            ? QueryAsync("WHERE org_id = $org ORDER BY id LIMIT " + (count ?? -1).ToString(CultureInfo.InvariantCulture), orgId, null, cancellationToken)
            : QueryAsync("WHERE org_id = $org AND id > $id ORDER BY id LIMIT " + (count ?? -1).ToString(CultureInfo.InvariantCulture), orgId, afterId, cancellationToken);

    public async Task<bool> UpdateAsync(Customer customer, AuditEntry audit, CancellationToken cancellationToken)
    {
        await using var connection = await _database.OpenAsync(cancellationToken);
        await using var tx = connection.BeginTransaction();
        await using var command = connection.CreateCommand();
        command.Transaction = tx;
        command.CommandText = """
            UPDATE customers SET name = $name, plan = $plan, rate_limit_permits = $permits, rate_limit_window_ms = $window,
              quota_limit = $quota, quota_period = $period, updated_at = $updated WHERE org_id = $org AND id = $id;
            """;
        Bind(command, customer);
        return await CommitWithAuditAsync(connection, tx, await command.ExecuteNonQueryAsync(cancellationToken) == 1, audit, cancellationToken);
    }

    public async Task<bool> DeleteAsync(string orgId, string id, AuditEntry audit, CancellationToken cancellationToken)
    {
        await using var connection = await _database.OpenAsync(cancellationToken);
        await using var tx = connection.BeginTransaction();
        await using var command = connection.CreateCommand();
        command.Transaction = tx;
        command.CommandText = "DELETE FROM customers WHERE org_id = $org AND id = $id;";
        command.Parameters.AddWithValue("$org", orgId);
        command.Parameters.AddWithValue("$id", id);
        return await CommitWithAuditAsync(connection, tx, await command.ExecuteNonQueryAsync(cancellationToken) == 1, audit, cancellationToken);
    }

    private static async Task<bool> CommitWithAuditAsync(SqliteConnection connection, SqliteTransaction tx, bool changed, AuditEntry audit, CancellationToken cancellationToken)
    {
        if (changed)
        {
            await InsertAuditAsync(connection, tx, audit, cancellationToken);
        }

        await tx.CommitAsync(cancellationToken);
        return changed;
    }

    private static Task InsertAuditAsync(SqliteConnection connection, SqliteTransaction tx, AuditEntry audit, CancellationToken cancellationToken) =>
        SqliteAudit.InsertAsync(connection, tx, audit, cancellationToken);

    private async Task<IReadOnlyList<Customer>> QueryAsync(string where, string orgId, string? id, CancellationToken cancellationToken)
    {
        await using var connection = await _database.OpenAsync(cancellationToken);
        await using var command = connection.CreateCommand();
        command.CommandText = $"SELECT {Columns} FROM customers {where};";
        command.Parameters.AddWithValue("$org", orgId);
        if (id is not null)
        {
            command.Parameters.AddWithValue("$id", id);
        }

        var customers = new List<Customer>();
        await using var r = await command.ExecuteReaderAsync(cancellationToken);
        while (await r.ReadAsync(cancellationToken))
        {
            customers.Add(new Customer(
                r.GetString(0),
                r.GetString(1),
                r.GetString(2),
                r.IsDBNull(3) ? null : r.GetString(3),
                r.IsDBNull(4) ? null : new KeyRateLimit((int)r.GetInt64(4), TimeSpan.FromMilliseconds(r.GetInt64(5))),
                r.IsDBNull(6) ? null : new CustomerQuota(r.GetInt64(6), QuotaPeriods.TryParse(r.GetString(7), out var p) ? p : QuotaPeriod.Month),
                DateTimeOffset.FromUnixTimeMilliseconds(r.GetInt64(8)),
                DateTimeOffset.FromUnixTimeMilliseconds(r.GetInt64(9))));
        }

        return customers;
    }

    private static void Bind(SqliteCommand command, Customer c)
    {
        var p = command.Parameters;
        p.AddWithValue("$org", c.OrgId);
        p.AddWithValue("$id", c.Id);
        p.AddWithValue("$name", c.Name);
        p.AddWithValue("$plan", (object?)c.Plan ?? DBNull.Value);
        p.AddWithValue("$permits", c.RateLimit is { } r1 ? r1.PermitLimit : DBNull.Value);
        p.AddWithValue("$window", c.RateLimit is { } r2 ? (long)r2.Window.TotalMilliseconds : DBNull.Value);
        p.AddWithValue("$quota", c.Quota is { } q1 ? q1.Limit : DBNull.Value);
        p.AddWithValue("$period", c.Quota is { } q2 ? QuotaPeriods.Name(q2.Period) : DBNull.Value);
        p.AddWithValue("$created", c.CreatedAt.ToUnixTimeMilliseconds());
        p.AddWithValue("$updated", c.UpdatedAt.ToUnixTimeMilliseconds());
    }
}
