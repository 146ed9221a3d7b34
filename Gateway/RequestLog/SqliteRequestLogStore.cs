using System.Globalization;
using System.Text;
using Gateway.Configuration;
using Gateway.Stores.Sqlite;
using Microsoft.Data.Sqlite;
using SQLitePCL;
using Microsoft.Extensions.Options;

namespace Gateway.RequestLog;

/// <summary>Request records in the <c>request_log</c> table of the embedded store (schema version 7, its time index dropped in 8); org_id '' is no organization.</summary>
internal sealed class SqliteRequestLogStore(IOptions<GatewayOptions> options) : IRequestLogStore
{
    private const string Columns = "seq, org_id, at, request_id, key_id, customer_id, method, path, route, status, code, duration_ms, client_ip, upstream_status";

    // Numbered parameters, bound by position: binding by name looks each name up in the statement, and with
    // many rows per statement that lookup (a string comparison per parameter already bound) was the log's
    // largest cost.
    private const string InsertSql = """
        INSERT INTO request_log (org_id, at, request_id, key_id, customer_id, method, path, route, status, code, duration_ms, client_ip, upstream_status)
        VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13);
        """;

    private readonly SqliteDatabase _database = new(options.Value.Store.Path, SqliteOpenMode.ReadWrite);

    public async Task AppendAsync(IReadOnlyList<RequestRecord> records, CancellationToken cancellationToken)
    {
        await using var connection = await _database.OpenAsync(cancellationToken);
        await using var tx = (SqliteTransaction)await connection.BeginTransactionAsync(cancellationToken);
        Insert(connection.Handle!, records);
        await tx.CommitAsync(cancellationToken);
    }

    /// <summary>
    /// One prepared statement run once per record inside the caller's transaction, through SQLite's own API:
    /// Microsoft.Data.Sqlite would allocate a binder per parameter and a UTF-8 copy of each string on every row,
    /// where this binds the record's strings as they are.
    /// </summary>
    private static void Insert(sqlite3 db, IReadOnlyList<RequestRecord> records)
    {
        SqliteException.ThrowExceptionForRC(raw.sqlite3_prepare_v2(db, InsertSql, out var statement), db);
        using (statement)
        {
            foreach (var r in records)
            {
                Text(statement, 1, r.OrgId ?? "");
                raw.sqlite3_bind_int64(statement, 2, r.Time.ToUnixTimeMilliseconds());
                Text(statement, 3, r.RequestId);
                Text(statement, 4, r.KeyId);
                Text(statement, 5, r.CustomerId);
                Text(statement, 6, r.Method);
                Text(statement, 7, r.Path);
                Text(statement, 8, r.Route);
                raw.sqlite3_bind_int(statement, 9, r.Status);
                Text(statement, 10, r.Code);
                raw.sqlite3_bind_double(statement, 11, r.DurationMs);
                Text(statement, 12, r.ClientIp);
                if (r.UpstreamStatus is { } upstream)
                {
                    raw.sqlite3_bind_int(statement, 13, upstream);
                }
                else
                {
                    raw.sqlite3_bind_null(statement, 13);
                }

                var rc = raw.sqlite3_step(statement);
                if (rc != raw.SQLITE_DONE)
                {
                    SqliteException.ThrowExceptionForRC(rc, db);
                }

                raw.sqlite3_reset(statement);
            }
        }
    }

    private static void Text(sqlite3_stmt statement, int index, string? value)
    {
        if (value is null)
        {
            raw.sqlite3_bind_null(statement, index);
        }
        else
        {
            raw.sqlite3_bind_text16(statement, index, value.AsSpan());
        }
    }

    public async Task TrimAsync(IReadOnlyCollection<string?> orgs, DateTimeOffset olderThan, int maxPerOrg, CancellationToken cancellationToken)
    {
        await using var connection = await _database.OpenAsync(cancellationToken);
        await using (var command = connection.CreateCommand())
        {
            // Rows go in in time order (a batch at a time, each within its ~200 ms gathering), so the expired ones
            // are the oldest rowids: walk from the oldest to the first row still within the retention and delete
            // before it, touching only what goes. A row a little out of order waits for the next trim; reads
            // never show it meanwhile (they filter on the retention themselves).
            command.CommandText = """
                DELETE FROM request_log WHERE seq < coalesce(
                  (SELECT seq FROM request_log WHERE at >= $cutoff ORDER BY seq LIMIT 1),
                  (SELECT max(seq) + 1 FROM request_log));
                """;
            command.Parameters.AddWithValue("$cutoff", olderThan.ToUnixTimeMilliseconds());
            await command.ExecuteNonQueryAsync(cancellationToken);
        }

        foreach (var org in orgs)
        {
            await TrimOrgAsync(connection, org ?? "", maxPerOrg, cancellationToken);
        }
    }

    /// <summary>Rows deleted per statement when an organization is over its cap.</summary>
    private const int TrimChunk = 1000;

    /// <summary>
    /// Deletes an organization's rows past its newest <paramref name="maxPerOrg"/>: finds the newest row to go
    /// once, then deletes from the oldest in chunks, yielding the thread between them. A busy organization is
    /// trimmed a tenth of its cap at a time; in one statement that held a pool thread for tens of milliseconds,
    /// which on a 2-core machine showed as the log's p99.
    /// </summary>
    private static async Task TrimOrgAsync(SqliteConnection connection, string org, int maxPerOrg, CancellationToken cancellationToken)
    {
        long at, seq;
        await using (var edge = connection.CreateCommand())
        {
            edge.CommandText = "SELECT at, seq FROM request_log WHERE org_id = $org ORDER BY at DESC, seq DESC LIMIT 1 OFFSET $max;";
            edge.Parameters.AddWithValue("$org", org);
            edge.Parameters.AddWithValue("$max", maxPerOrg);
            await using var reader = await edge.ExecuteReaderAsync(cancellationToken);
            if (!await reader.ReadAsync(cancellationToken))
            {
                return;
            }

            (at, seq) = (reader.GetInt64(0), reader.GetInt64(1));
        }

        await using var delete = connection.CreateCommand();
        delete.CommandText = """
            DELETE FROM request_log WHERE seq IN (
              SELECT seq FROM request_log WHERE org_id = $org AND (at < $at OR (at = $at AND seq <= $seq)) ORDER BY at, seq LIMIT $chunk);
            """;
        delete.Parameters.AddWithValue("$org", org);
        delete.Parameters.AddWithValue("$at", at);
        delete.Parameters.AddWithValue("$seq", seq);
        delete.Parameters.AddWithValue("$chunk", TrimChunk);
        while (await delete.ExecuteNonQueryAsync(cancellationToken) == TrimChunk)
        {
            await Task.Yield();
        }
    }

    public async Task<RequestPage> QueryAsync(RequestQuery query, CancellationToken cancellationToken)
    {
        await using var connection = await _database.OpenAsync(cancellationToken);
        await using var command = connection.CreateCommand();
        var sql = new StringBuilder($"SELECT {Columns} FROM request_log WHERE org_id = $org AND at >= $notBefore");
        command.Parameters.AddWithValue("$org", query.OrgId ?? "");
        command.Parameters.AddWithValue("$notBefore", query.NotBefore.ToUnixTimeMilliseconds());
        if (query.Cursor is not null)
        {
            var (at, seq) = ParseCursor(query.Cursor);
            sql.Append(" AND (at < $cAt OR (at = $cAt AND seq < $cSeq))");
            command.Parameters.AddWithValue("$cAt", at);
            command.Parameters.AddWithValue("$cSeq", seq);
        }

        Filter(sql, command, "key_id", "$key", query.KeyId);
        Filter(sql, command, "customer_id", "$customer", query.CustomerId);
        Filter(sql, command, "code", "$code", query.Code);
        if (query.Status is { } status)
        {
            sql.Append(" AND status = $status");
            command.Parameters.AddWithValue("$status", status);
        }

        if (query.From is { } from)
        {
            sql.Append(" AND at >= $from");
            command.Parameters.AddWithValue("$from", from.ToUnixTimeMilliseconds());
        }

        if (query.To is { } to)
        {
            sql.Append(" AND at < $to");
            command.Parameters.AddWithValue("$to", to.ToUnixTimeMilliseconds());
        }

        sql.Append(" ORDER BY at DESC, seq DESC LIMIT $limit;");
        command.Parameters.AddWithValue("$limit", query.Limit + 1);
        command.CommandText = sql.ToString();
        var items = new List<(long Seq, RequestRecord Record)>();
        await using (var reader = await command.ExecuteReaderAsync(cancellationToken))
        {
            while (await reader.ReadAsync(cancellationToken))
            {
                items.Add((reader.GetInt64(0), Read(reader)));
            }
        }

        string? next = null;
        if (items.Count > query.Limit)
        {
            items.RemoveAt(items.Count - 1);
            var last = items[^1];
            next = string.Create(CultureInfo.InvariantCulture, $"{last.Record.Time.ToUnixTimeMilliseconds()}-{last.Seq}");
        }

        return new RequestPage(items.Select(i => i.Record).ToList(), next);
    }

    public async Task<RequestRecord?> FindAsync(string requestId, DateTimeOffset notBefore, CancellationToken cancellationToken)
    {
        await using var connection = await _database.OpenAsync(cancellationToken);
        await using var command = connection.CreateCommand();
        command.CommandText = $"SELECT {Columns} FROM request_log WHERE request_id = $rid AND at >= $notBefore ORDER BY seq DESC LIMIT 1;";
        command.Parameters.AddWithValue("$rid", requestId);
        command.Parameters.AddWithValue("$notBefore", notBefore.ToUnixTimeMilliseconds());
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        return await reader.ReadAsync(cancellationToken) ? Read(reader) : null;
    }

    private static void Filter(StringBuilder sql, SqliteCommand command, string column, string parameter, string? value)
    {
        if (value is not null)
        {
            sql.Append(" AND ").Append(column).Append(" = ").Append(parameter);
            command.Parameters.AddWithValue(parameter, value);
        }
    }

    private static (long At, long Seq) ParseCursor(string cursor)
    {
        var parts = cursor.Split('-');
        return parts.Length == 2
            && long.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out var at)
            && long.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out var seq)
            ? (at, seq)
            : throw new InvalidCursorException();
    }

    private static RequestRecord Read(SqliteDataReader r) => new(
        DateTimeOffset.FromUnixTimeMilliseconds(r.GetInt64(2)),
        r.GetString(3),
        r.GetString(1) is { Length: > 0 } org ? org : null,
        r.IsDBNull(4) ? null : r.GetString(4),
        r.IsDBNull(5) ? null : r.GetString(5),
        r.GetString(6),
        r.GetString(7),
        r.IsDBNull(8) ? null : r.GetString(8),
        r.GetInt32(9),
        r.IsDBNull(10) ? null : r.GetString(10),
        r.GetDouble(11),
        r.IsDBNull(12) ? null : r.GetString(12),
        r.IsDBNull(13) ? null : r.GetInt32(13));
}
