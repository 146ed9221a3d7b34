using Gateway.Configuration;
using Gateway.Domain;
using Gateway.Stores;
using Gateway.Stores.Sqlite;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Options;

namespace Gateway.Webhooks;

/// <summary>Webhooks, their outbox and once-marks in the embedded store (schema version 7).</summary>
internal sealed class SqliteWebhookStore(IOptions<GatewayOptions> options) : IWebhookStore
{
    private const string HookColumns = "id, org_id, url, events, description, secret, enabled, disabled_reason, failing_since, created_at, updated_at";
    private const string DeliveryColumns = "id, webhook_id, org_id, type, body, status, attempts, created_at, next_attempt_at, last_attempt_at, response_status, last_error, delivered_at";

    private readonly SqliteDatabase _database = new(options.Value.Store.Path, SqliteOpenMode.ReadWrite);

    public async Task CreateAsync(Webhook webhook, CancellationToken cancellationToken)
    {
        await using var connection = await _database.OpenAsync(cancellationToken);
        await using var command = connection.CreateCommand();
        command.CommandText = $"INSERT INTO webhooks ({HookColumns}) VALUES ($id, $org, $url, $events, $description, $secret, $enabled, $reason, $failing, $created, $updated);";
        BindHook(command, webhook);
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    public async Task<Webhook?> GetAsync(string id, CancellationToken cancellationToken)
    {
        await using var connection = await _database.OpenAsync(cancellationToken);
        await using var command = connection.CreateCommand();
        command.CommandText = $"SELECT {HookColumns} FROM webhooks WHERE id = $id;";
        command.Parameters.AddWithValue("$id", id);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        return await reader.ReadAsync(cancellationToken) ? ReadHook(reader) : null;
    }

    public Task<IReadOnlyList<Webhook>> ListAsync(string orgId, CancellationToken cancellationToken) =>
        ListAfterAsync(orgId, null, null, cancellationToken);

    public async Task<IReadOnlyList<Webhook>> ListAfterAsync(string orgId, TimeIdPosition? after, int? count, CancellationToken cancellationToken)
    {
        await using var connection = await _database.OpenAsync(cancellationToken);
        await using var command = connection.CreateCommand();
        // A row-value comparison, so ix_webhooks_org (org_id, created_at) finds where the page starts.
        command.CommandText = $"SELECT {HookColumns} FROM webhooks WHERE org_id = $org"
            + (after is null ? "" : " AND (created_at, id) > ($at, $id)")
            + " ORDER BY created_at, id LIMIT $count;";
        command.Parameters.AddWithValue("$org", orgId);
        BindPosition(command, after);
        command.Parameters.AddWithValue("$count", count ?? -1);
        var hooks = new List<Webhook>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            hooks.Add(ReadHook(reader));
        }

        return hooks;
    }

    public async Task UpdateAsync(Webhook webhook, CancellationToken cancellationToken)
    {
        await using var connection = await _database.OpenAsync(cancellationToken);
        await using var command = connection.CreateCommand();
        command.CommandText = """
            UPDATE webhooks SET url = $url, events = $events, description = $description, secret = $secret, enabled = $enabled,
              disabled_reason = $reason, failing_since = $failing, updated_at = $updated WHERE id = $id;
            """;
        BindHook(command, webhook);
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    public async Task<bool> DeleteAsync(string id, CancellationToken cancellationToken)
    {
        await using var connection = await _database.OpenAsync(cancellationToken);
        await using var tx = (SqliteTransaction)await connection.BeginTransactionAsync(cancellationToken);
        await using var command = connection.CreateCommand();
        command.Transaction = tx;
        command.CommandText = "DELETE FROM webhook_deliveries WHERE webhook_id = $id; DELETE FROM webhooks WHERE id = $id;";
        command.Parameters.AddWithValue("$id", id);
        await command.ExecuteNonQueryAsync(cancellationToken);
        command.CommandText = "SELECT changes();";
        var deleted = Convert.ToInt64(await command.ExecuteScalarAsync(cancellationToken), System.Globalization.CultureInfo.InvariantCulture) > 0;
        await tx.CommitAsync(cancellationToken);
        return deleted;
    }

    public async Task EnqueueAsync(IReadOnlyList<WebhookDelivery> deliveries, CancellationToken cancellationToken)
    {
        await using var connection = await _database.OpenAsync(cancellationToken);
        await using var tx = (SqliteTransaction)await connection.BeginTransactionAsync(cancellationToken);
        foreach (var delivery in deliveries)
        {
            await using var command = connection.CreateCommand();
            command.Transaction = tx;
            command.CommandText = $"INSERT INTO webhook_deliveries ({DeliveryColumns}) VALUES ($id, $hook, $org, $type, $body, $status, $attempts, $created, $next, $last, $response, $error, $delivered);";
            BindDelivery(command, delivery);
            await command.ExecuteNonQueryAsync(cancellationToken);
        }

        await tx.CommitAsync(cancellationToken);
    }

    public async Task<IReadOnlyList<WebhookDelivery>> ClaimDueAsync(DateTimeOffset now, DateTimeOffset leaseUntil, int max, CancellationToken cancellationToken)
    {
        await using var connection = await _database.OpenAsync(cancellationToken);
        await using var command = connection.CreateCommand();

        // One statement: SQLite runs it under the write lock, so no other connection takes the same rows.
        command.CommandText = $"""
            UPDATE webhook_deliveries SET next_attempt_at = $lease
            WHERE id IN (SELECT id FROM webhook_deliveries WHERE status = 'pending' AND next_attempt_at <= $now ORDER BY next_attempt_at LIMIT $max)
            RETURNING {DeliveryColumns};
            """;
        command.Parameters.AddWithValue("$now", now.ToUnixTimeMilliseconds());
        command.Parameters.AddWithValue("$lease", leaseUntil.ToUnixTimeMilliseconds());
        command.Parameters.AddWithValue("$max", max);
        var claimed = new List<WebhookDelivery>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            claimed.Add(ReadDelivery(reader));
        }

        return claimed;
    }

    public async Task SaveDeliveryAsync(WebhookDelivery delivery, CancellationToken cancellationToken)
    {
        await using var connection = await _database.OpenAsync(cancellationToken);
        await using var command = connection.CreateCommand();
        command.CommandText = """
            UPDATE webhook_deliveries SET status = $status, attempts = $attempts, next_attempt_at = $next, last_attempt_at = $last,
              response_status = $response, last_error = $error, delivered_at = $delivered WHERE id = $id;
            """;
        BindDelivery(command, delivery);
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    public async Task<IReadOnlyList<WebhookDelivery>> ListDeliveriesAsync(string webhookId, TimeIdPosition? after, int limit, CancellationToken cancellationToken)
    {
        await using var connection = await _database.OpenAsync(cancellationToken);
        await using var command = connection.CreateCommand();
        // Newest first, so the page after a delivery is the older ones; ix_webhook_deliveries_hook finds where it starts.
        command.CommandText = $"SELECT {DeliveryColumns} FROM webhook_deliveries WHERE webhook_id = $hook"
            + (after is null ? "" : " AND (created_at, id) < ($at, $id)")
            + " ORDER BY created_at DESC, id DESC LIMIT $limit;";
        command.Parameters.AddWithValue("$hook", webhookId);
        BindPosition(command, after);
        command.Parameters.AddWithValue("$limit", limit);
        var deliveries = new List<WebhookDelivery>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            deliveries.Add(ReadDelivery(reader));
        }

        return deliveries;
    }

    public async Task<WebhookDelivery?> GetDeliveryAsync(string deliveryId, CancellationToken cancellationToken)
    {
        await using var connection = await _database.OpenAsync(cancellationToken);
        await using var command = connection.CreateCommand();
        command.CommandText = $"SELECT {DeliveryColumns} FROM webhook_deliveries WHERE id = $id;";
        command.Parameters.AddWithValue("$id", deliveryId);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        return await reader.ReadAsync(cancellationToken) ? ReadDelivery(reader) : null;
    }

    public async Task<bool> MarkOnceAsync(string mark, DateTimeOffset now, TimeSpan keepFor, CancellationToken cancellationToken)
    {
        await using var connection = await _database.OpenAsync(cancellationToken);
        await using var command = connection.CreateCommand();
        command.CommandText = "DELETE FROM webhook_marks WHERE at < $old; INSERT OR IGNORE INTO webhook_marks (mark, at) VALUES ($mark, $now); SELECT changes();";
        command.Parameters.AddWithValue("$old", (now - keepFor).ToUnixTimeMilliseconds());
        command.Parameters.AddWithValue("$mark", mark);
        command.Parameters.AddWithValue("$now", now.ToUnixTimeMilliseconds());
        return Convert.ToInt64(await command.ExecuteScalarAsync(cancellationToken), System.Globalization.CultureInfo.InvariantCulture) > 0;
    }

    /// <summary>Every mark with the time it was recorded, for <c>migrate-store</c>.</summary>
    internal async Task<IReadOnlyList<(string Mark, DateTimeOffset At)>> ListMarksAsync(CancellationToken cancellationToken)
    {
        await using var connection = await _database.OpenAsync(cancellationToken);
        await using var command = connection.CreateCommand();
        command.CommandText = "SELECT mark, at FROM webhook_marks;";
        var marks = new List<(string, DateTimeOffset)>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            marks.Add((reader.GetString(0), DateTimeOffset.FromUnixTimeMilliseconds(reader.GetInt64(1))));
        }

        return marks;
    }

    public async Task AuditAsync(AuditEntry entry, CancellationToken cancellationToken)
    {
        await using var connection = await _database.OpenAsync(cancellationToken);
        await SqliteAudit.InsertAsync(connection, null, entry, cancellationToken);
    }

    private static void BindPosition(SqliteCommand command, TimeIdPosition? position)
    {
        if (position is not null)
        {
            command.Parameters.AddWithValue("$at", position.AtMillis);
            command.Parameters.AddWithValue("$id", position.Id);
        }
    }

    private static void BindHook(SqliteCommand command, Webhook w)
    {
        command.Parameters.AddWithValue("$id", w.Id);
        command.Parameters.AddWithValue("$org", w.OrgId);
        command.Parameters.AddWithValue("$url", w.Url);
        command.Parameters.AddWithValue("$events", string.Join(' ', w.Events));
        command.Parameters.AddWithValue("$description", (object?)w.Description ?? DBNull.Value);
        command.Parameters.AddWithValue("$secret", w.Secret);
        command.Parameters.AddWithValue("$enabled", w.Enabled ? 1 : 0);
        command.Parameters.AddWithValue("$reason", (object?)w.DisabledReason ?? DBNull.Value);
        command.Parameters.AddWithValue("$failing", Ms(w.FailingSince));
        command.Parameters.AddWithValue("$created", w.CreatedAt.ToUnixTimeMilliseconds());
        command.Parameters.AddWithValue("$updated", w.UpdatedAt.ToUnixTimeMilliseconds());
    }

    private static void BindDelivery(SqliteCommand command, WebhookDelivery d)
    {
        command.Parameters.AddWithValue("$id", d.Id);
        command.Parameters.AddWithValue("$hook", d.WebhookId);
        command.Parameters.AddWithValue("$org", d.OrgId);
        command.Parameters.AddWithValue("$type", d.Type);
        command.Parameters.AddWithValue("$body", d.Body);
        command.Parameters.AddWithValue("$status", d.Status);
        command.Parameters.AddWithValue("$attempts", d.Attempts);
        command.Parameters.AddWithValue("$created", d.CreatedAt.ToUnixTimeMilliseconds());
        command.Parameters.AddWithValue("$next", d.NextAttemptAt.ToUnixTimeMilliseconds());
        command.Parameters.AddWithValue("$last", Ms(d.LastAttemptAt));
        command.Parameters.AddWithValue("$response", (object?)d.ResponseStatus ?? DBNull.Value);
        command.Parameters.AddWithValue("$error", (object?)d.LastError ?? DBNull.Value);
        command.Parameters.AddWithValue("$delivered", Ms(d.DeliveredAt));
    }

    private static object Ms(DateTimeOffset? at) => (object?)at?.ToUnixTimeMilliseconds() ?? DBNull.Value;

    private static DateTimeOffset? Time(SqliteDataReader r, int i) => r.IsDBNull(i) ? null : DateTimeOffset.FromUnixTimeMilliseconds(r.GetInt64(i));

    private static Webhook ReadHook(SqliteDataReader r) => new(
        r.GetString(0), r.GetString(1), r.GetString(2), r.GetString(3).Split(' ', StringSplitOptions.RemoveEmptyEntries),
        r.IsDBNull(4) ? null : r.GetString(4), r.GetString(5), r.GetInt64(6) != 0, r.IsDBNull(7) ? null : r.GetString(7),
        Time(r, 8), DateTimeOffset.FromUnixTimeMilliseconds(r.GetInt64(9)), DateTimeOffset.FromUnixTimeMilliseconds(r.GetInt64(10)));

    private static WebhookDelivery ReadDelivery(SqliteDataReader r) => new(
        r.GetString(0), r.GetString(1), r.GetString(2), r.GetString(3), r.GetString(4), r.GetString(5), r.GetInt32(6),
        DateTimeOffset.FromUnixTimeMilliseconds(r.GetInt64(7)), DateTimeOffset.FromUnixTimeMilliseconds(r.GetInt64(8)),
        Time(r, 9), r.IsDBNull(10) ? null : r.GetInt32(10), r.IsDBNull(11) ? null : r.GetString(11), Time(r, 12));
}
