using System.Globalization;
using System.Text;
using Gateway.Configuration;
using Gateway.Stores.Sqlite;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Options;

namespace Gateway.RequestLog;

/// <summary>Request records in the <c>request_log</c> table of the embedded store (schema version 7); org_id '' is no organization.</summary>
internal sealed class SqliteRequestLogStore(IOptions<GatewayOptions> options) : IRequestLogStore
{
    private const string Columns = "seq, org_id, at, request_id, key_id, customer_id, method, path, route, status, code, duration_ms, client_ip, upstream_status";

    private static readonly string[] Parameters = ["$org", "$at", "$rid", "$key", "$customer", "$method", "$path", "$route", "$status", "$code", "$duration", "$ip", "$upstream"];

    /// <summary>Rows per INSERT statement (650 parameters, far under SQLite's 32,766).</summary>
    private const int RowsPerInsert = 50;

    private static readonly string FullInsertSql = InsertSql(RowsPerInsert);

    private readonly SqliteDatabase _database = new(options.Value.Store.Path, SqliteOpenMode.ReadWrite);

    public async Task AppendAsync(IReadOnlyList<RequestRecord> records, CancellationToken cancellationToken)
    {
        await using var connection = await _database.OpenAsync(cancellationToken);
        await using var tx = (SqliteTransaction)await connection.BeginTransactionAsync(cancellationToken);
        await using (var full = Insert(connection, tx, RowsPerInsert))
        {
            // Many rows per statement: a statement's execution, not a row, was most of what a record cost.
            var at = 0;
            for (; records.Count - at >= RowsPerInsert; at += RowsPerInsert)
            {
                Bind(full, records, at, RowsPerInsert);
                await full.Command.ExecuteNonQueryAsync(cancellationToken);
            }

            if (at < records.Count)
            {
                await using var rest = Insert(connection, tx, records.Count - at);
                Bind(rest, records, at, records.Count - at);
                await rest.Command.ExecuteNonQueryAsync(cancellationToken);
            }
        }

        await tx.CommitAsync(cancellationToken);
    }

    private static string InsertSql(int rows)
    {
        var sql = new StringBuilder("INSERT INTO request_log (org_id, at, request_id, key_id, customer_id, method, path, route, status, code, duration_ms, client_ip, upstream_status) VALUES ");
        for (var row = 0; row < rows; row++)
        {
            sql.Append(row == 0 ? "(" : ", (");
            for (var column = 0; column < Parameters.Length; column++)
            {
                sql.Append(column == 0 ? "" : ", ").Append(Parameters[column]).Append('_').Append(row.ToString(CultureInfo.InvariantCulture));
            }

            sql.Append(')');
        }

        return sql.Append(';').ToString();
    }

    private static InsertCommand Insert(SqliteConnection connection, SqliteTransaction tx, int rows)
    {
        var command = connection.CreateCommand();
        command.Transaction = tx;
        command.CommandText = rows == RowsPerInsert ? FullInsertSql : InsertSql(rows);
        var parameters = new SqliteParameter[rows * Parameters.Length];
        for (var row = 0; row < rows; row++)
        {
            for (var column = 0; column < Parameters.Length; column++)
            {
                parameters[(row * Parameters.Length) + column] = command.Parameters.Add(
                    new SqliteParameter { ParameterName = Parameters[column] + "_" + row.ToString(CultureInfo.InvariantCulture) });
            }
        }

        return new InsertCommand(command, parameters);
    }

    private static void Bind(InsertCommand insert, IReadOnlyList<RequestRecord> records, int from, int rows)
    {
        var p = insert.Parameters;
        for (var row = 0; row < rows; row++)
        {
            var r = records[from + row];
            var i = row * Parameters.Length;
            p[i].Value = r.OrgId ?? "";
            p[i + 1].Value = r.Time.ToUnixTimeMilliseconds();
            p[i + 2].Value = r.RequestId;
            p[i + 3].Value = (object?)r.KeyId ?? DBNull.Value;
            p[i + 4].Value = (object?)r.CustomerId ?? DBNull.Value;
            p[i + 5].Value = r.Method;
            p[i + 6].Value = r.Path;
            p[i + 7].Value = (object?)r.Route ?? DBNull.Value;
            p[i + 8].Value = r.Status;
            p[i + 9].Value = (object?)r.Code ?? DBNull.Value;
            p[i + 10].Value = r.DurationMs;
            p[i + 11].Value = (object?)r.ClientIp ?? DBNull.Value;
            p[i + 12].Value = (object?)r.UpstreamStatus ?? DBNull.Value;
        }
    }

    private sealed record InsertCommand(SqliteCommand Command, SqliteParameter[] Parameters) : IAsyncDisposable
    {
        public ValueTask DisposeAsync() => Command.DisposeAsync();
    }

    public async Task TrimAsync(IReadOnlyCollection<string?> orgs, DateTimeOffset olderThan, int maxPerOrg, CancellationToken cancellationToken)
    {
        await using var connection = await _database.OpenAsync(cancellationToken);
        await using (var command = connection.CreateCommand())
        {
            command.CommandText = "DELETE FROM request_log WHERE at < $cutoff;";
            command.Parameters.AddWithValue("$cutoff", olderThan.ToUnixTimeMilliseconds());
            await command.ExecuteNonQueryAsync(cancellationToken);
        }

        foreach (var org in orgs)
        {
            await using var command = connection.CreateCommand();
            command.CommandText = """
                DELETE FROM request_log WHERE org_id = $org AND seq IN (
                  SELECT seq FROM request_log WHERE org_id = $org ORDER BY at DESC, seq DESC LIMIT -1 OFFSET $max);
                """;
            command.Parameters.AddWithValue("$org", org ?? "");
            command.Parameters.AddWithValue("$max", maxPerOrg);
            await command.ExecuteNonQueryAsync(cancellationToken);
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
