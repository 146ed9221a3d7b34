using System.Buffers;
using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using Gateway.Configuration;
using Gateway.Stores.Sqlite;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Options;

namespace Gateway.RequestLog;

/// <summary>
/// Request records in the embedded store's <c>request_log_batches</c> table (schema version 9): one row per
/// organization per write (per <see cref="RecordsPerRow"/> of its records), its records a JSON array of arrays,
/// oldest first (org_id '' is no organization).
/// A row per record cost a B-tree insert in the table and in each index, and the same again to delete it once
/// the organization was at its cap: about a tenth of the CPU the whole gateway spent on a request. A row per
/// batch costs a JSON array element per record; reads
/// decode the batches of one organization newest first and filter in memory, which for an organization at
/// the default cap is a few hundred rows.
/// An organization's records are held in memory until it has <see cref="FullRow"/> of them or its oldest has waited
/// <see cref="HoldFor"/> (see there); a read on this instance writes the ones it asks about first.
/// </summary>
internal sealed class SqliteRequestLogStore(IOptions<GatewayOptions> options, SqliteBackgroundWriter writer) : IRequestLogStore
{
    private const string InsertSql = "INSERT INTO request_log_batches (org_id, first_at, last_at, count, records) VALUES (?1, ?2, ?3, ?4, ?5);";

    // Request ids are found in the stored text as their quoted selves: the codec writes them unescaped.
    private static JsonWriterOptions WriterOptions => RequestRecordJson.WriterOptions;

    /// <summary>
    /// A row's JSON is written here and the buffer kept for the next: a new one per batch of 500 records was 100-200 KB,
    /// above the large-object threshold, so every batch was a large-object allocation that brought full collections
    /// closer. Only the background writer's thread, one write at a time, uses it; one grown past
    /// <see cref="MaxKeptJsonBytes"/> (long paths) is let go after its write.
    /// </summary>
    private ArrayBufferWriter<byte> _batchJson = new(InitialJsonBytes);

    private const int InitialJsonBytes = 64 * 1024;
    private const int MaxKeptJsonBytes = 1024 * 1024;

    /// <summary>
    /// Most records in one row. A batch (one transaction, up to 5000 records by default) holds a row per organization,
    /// and more than one for an organization with more records: the cap's rewrite decodes and encodes the row it falls
    /// in, and a read decodes whole rows, so rows stay as large as version 9 packed them.
    /// </summary>
    private const int RecordsPerRow = 500;

    /// <summary>
    /// Records an organization needs before its row is written without waiting for <see cref="HoldFor"/>.
    /// </summary>
    public const int FullRow = 64;

    /// <summary>
    /// Longest an organization's records wait in memory for a fuller row. Every row is also an entry in the
    /// organization index, and each organization's newest entries sit on an index page of their own, so a write
    /// rewrites about a page per organization in it, whatever its records. With a thousand organizations a
    /// 200 ms gathering held two or three records of each, and those index pages were most of what the store's
    /// writer wrote (docs/performance.md). Reads on this instance write what they ask about first, so they see
    /// every record as before; another process on the same file sees a record up to this much later, and a crash
    /// loses up to this much more.
    /// </summary>
    public static readonly TimeSpan HoldFor = TimeSpan.FromSeconds(2);

    /// <summary>
    /// Most records held at once (the request log's default buffer): past it every held record is written, so a
    /// flood spread over many organizations costs memory for this many records, not for <see cref="HoldFor"/> of them.
    /// </summary>
    public const int MaxHeld = 10_000;

    private readonly SqliteDatabase _database = new(options.Value.Store.Path, SqliteOpenMode.ReadWrite);

    /// <summary>Records waiting for a fuller row, by organization ('' for none). Only the background writer's thread touches them.</summary>
    private readonly Dictionary<string, Held> _held = new(StringComparer.Ordinal);

    /// <summary>
    /// On the store's background writer, whose commits do not wait for the disk (see <see cref="SqliteBackgroundWriter"/>):
    /// the records join their organizations' held ones, and the organizations with a full row, or whose oldest
    /// record has waited <see cref="HoldFor"/>, are written in one transaction.
    /// </summary>
    public Task AppendAsync(IReadOnlyList<RequestRecord> records, CancellationToken cancellationToken)
    {
        if (records.Count == 0)
        {
            return Task.CompletedTask;
        }

        return writer.RunAsync(connection =>
        {
            var now = Stopwatch.GetTimestamp();
            foreach (var record in records)
            {
                var org = record.OrgId ?? "";
                if (!_held.TryGetValue(org, out var held))
                {
                    _held[org] = held = new Held(now);
                }

                held.Records.Add(record);
            }

            WriteHeld(connection, Ripe(now));
        }, cancellationToken);
    }

    /// <summary>How long a read waits for the writer to write what it holds (<see cref="WriteHeldBeforeReadAsync"/>).</summary>
    public static readonly TimeSpan ReadWaitsForHeld = TimeSpan.FromSeconds(1);

    /// <summary>
    /// Has the writer write the records held for <paramref name="orgId"/> (every organization's when null), so the
    /// read that follows finds them. Reads have their own connections and never waited for writes: behind a long
    /// write (a usage flush, a trim, a store refusing writes) a read gives up on the held records after
    /// <see cref="ReadWaitsForHeld"/> and shows what is stored; the write still happens when its turn comes.
    /// </summary>
    private async Task WriteHeldBeforeReadAsync(string? orgId, CancellationToken cancellationToken)
    {
        var written = writer.RunAsync(connection => WriteHeld(connection, orgId is null ? [.. _held.Keys] : _held.ContainsKey(orgId) ? [orgId] : []), cancellationToken);
        try
        {
            await written.WaitAsync(ReadWaitsForHeld, cancellationToken);
        }
        catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            // Timed out, or the write failed: the read goes on with what is stored.
        }
    }

    /// <summary>The organizations with a full row or whose oldest record has waited long enough; all of them once <see cref="MaxHeld"/> records are held.</summary>
    private List<string> Ripe(long now)
    {
        var ripe = new List<string>();
        var total = 0;
        foreach (var (org, held) in _held)
        {
            total += held.Records.Count;
            if (held.Records.Count >= FullRow || Stopwatch.GetElapsedTime(held.Since, now) >= HoldFor)
            {
                ripe.Add(org);
            }
        }

        return total >= MaxHeld ? [.. _held.Keys] : ripe;
    }

    /// <summary>
    /// The held records of <paramref name="orgs"/> in one transaction. They leave memory whether or not it commits:
    /// a store that refuses them must not make them pile up.
    /// </summary>
    private void WriteHeld(SqliteConnection connection, List<string> orgs)
    {
        if (orgs.Count == 0)
        {
            return;
        }

        var groups = new List<List<RequestRecord>>(orgs.Count);
        foreach (var org in orgs)
        {
            groups.Add(_held[org].Records);
            _held.Remove(org);
        }

        using var tx = connection.BeginTransaction();
        try
        {
            Insert(connection, groups, _batchJson);
        }
        finally
        {
            if (_batchJson.Capacity > MaxKeptJsonBytes)
            {
                _batchJson = new ArrayBufferWriter<byte>(InitialJsonBytes);
            }
        }

        tx.Commit();
    }

    /// <summary>A row per <see cref="RecordsPerRow"/> of each organization's records, through SQLite's own API with the JSON bound as the UTF-8 it was written in.</summary>
    private static void Insert(SqliteConnection connection, List<List<RequestRecord>> groups, ArrayBufferWriter<byte> buffer)
    {
        using var json = new Utf8JsonWriter(buffer, WriterOptions);
        using var insert = new SqliteRowStatement(connection, InsertSql);
        foreach (var group in groups)
        {
            for (var start = 0; start < group.Count; start += RecordsPerRow)
            {
                var count = Math.Min(RecordsPerRow, group.Count - start);
                var (first, last) = Encode(json, buffer, group, start, count);
                insert.Bind(1, group[0].OrgId ?? "");
                insert.Bind(2, first);
                insert.Bind(3, last);
                insert.Bind(4, count);
                insert.BindUtf8(5, buffer.WrittenSpan);
                insert.Run();
            }
        }
    }

    /// <summary>
    /// Writes <paramref name="count"/> of <paramref name="records"/> from <paramref name="start"/> as one batch's JSON array
    /// into <paramref name="buffer"/>, replacing what it held; returns their first and last times.
    /// </summary>
    private static (long First, long Last) Encode(Utf8JsonWriter json, ArrayBufferWriter<byte> buffer, List<RequestRecord> records, int start, int count)
    {
        buffer.ResetWrittenCount();
        json.Reset(buffer);
        json.WriteStartArray();
        long first = long.MaxValue, last = long.MinValue;
        for (var i = start; i < start + count; i++)
        {
            var record = records[i];
            var at = record.Time.ToUnixTimeMilliseconds();
            (first, last) = (Math.Min(first, at), Math.Max(last, at));
            RequestRecordJson.Write(json, record);
        }

        json.WriteEndArray();
        json.Flush();
        return (first, last);
    }

    private static List<RequestRecord> Read(ReadOnlySpan<byte> text, string orgId)
    {
        var org = orgId.Length > 0 ? orgId : null;
        var records = new List<RequestRecord>();
        var json = new Utf8JsonReader(text);
        json.Read(); // [
        while (json.Read() && json.TokenType == JsonTokenType.StartArray)
        {
            records.Add(RequestRecordJson.Read(ref json, org));
        }

        return records;
    }

    /// <summary>
    /// Writes every held record first: the writer trims when it has had nothing new for a second (and on shutdown),
    /// which is also when nothing else would write what is held.
    /// </summary>
    public Task TrimAsync(IReadOnlyCollection<string?> orgs, DateTimeOffset olderThan, int maxPerOrg, CancellationToken cancellationToken) =>
        writer.RunAsync(connection =>
        {
            WriteHeld(connection, [.. _held.Keys]);
            Trim(connection, orgs, olderThan, maxPerOrg);
        }, cancellationToken);

    private static void Trim(SqliteConnection connection, IReadOnlyCollection<string?> orgs, DateTimeOffset olderThan, int maxPerOrg)
    {
        using (var command = connection.CreateCommand())
        {
            // Batches go in in time order (each within its ~200 ms gathering), so the expired ones are the oldest
            // rowids: walk from the oldest to the first batch still within the retention and delete before it. A
            // batch with some records past the retention stays until its newest is; reads skip those records.
            command.CommandText = """
                DELETE FROM request_log_batches WHERE seq < coalesce(
                  (SELECT seq FROM request_log_batches WHERE last_at >= $cutoff ORDER BY seq LIMIT 1),
                  (SELECT max(seq) + 1 FROM request_log_batches));
                """;
            command.Parameters.AddWithValue("$cutoff", olderThan.ToUnixTimeMilliseconds());
            command.ExecuteNonQuery();
        }

        foreach (var org in orgs)
        {
            TrimOrg(connection, org ?? "", maxPerOrg);
        }
    }

    /// <summary>
    /// Keeps an organization's newest <paramref name="maxPerOrg"/> records: counts back from its newest batch to
    /// the one the cap falls in, rewrites that one without its oldest records, and deletes every batch before it.
    /// </summary>
    private static void TrimOrg(SqliteConnection connection, string org, int maxPerOrg)
    {
        // Most organizations are under the cap most of the time: a read walk first, so those never take the write lock.
        if (FindEdge(connection, null, org, maxPerOrg) is null)
        {
            return;
        }

        // The walk again, the delete and the rewrite in one write transaction: another instance trimming the same
        // organization meanwhile waits, and this one acts on what that one left.
        using var tx = connection.BeginTransaction();
        if (FindEdge(connection, tx, org, maxPerOrg) is not { } found)
        {
            return;
        }

        var (edge, keep) = found;

        using (var delete = connection.CreateCommand())
        {
            delete.Transaction = tx;
            delete.CommandText = keep == 0
                ? "DELETE FROM request_log_batches WHERE org_id = $org AND seq <= $edge;"
                : "DELETE FROM request_log_batches WHERE org_id = $org AND seq < $edge;";
            delete.Parameters.AddWithValue("$org", org);
            delete.Parameters.AddWithValue("$edge", edge);
            delete.ExecuteNonQuery();
        }

        if (keep > 0)
        {
            KeepNewest(connection, tx, edge, org, (int)keep);
        }

        tx.Commit();
    }

    /// <summary>
    /// Counts back from the organization's newest batch to the one the cap falls in: that batch, and how many of
    /// its newest records to keep; null when there is nothing to trim (the cap ends exactly at the oldest batch).
    /// </summary>
    private static (long Edge, long Keep)? FindEdge(SqliteConnection connection, SqliteTransaction? tx, string org, int maxPerOrg)
    {
        using var walk = connection.CreateCommand();
        walk.Transaction = tx;
        walk.CommandText = "SELECT seq, count FROM request_log_batches WHERE org_id = $org ORDER BY seq DESC;";
        walk.Parameters.AddWithValue("$org", org);
        using var reader = walk.ExecuteReader();
        long seen = 0;
        while (reader.Read())
        {
            var count = reader.GetInt64(1);
            if (seen + count >= maxPerOrg)
            {
                var (edge, keep) = (reader.GetInt64(0), maxPerOrg - seen);
                return keep < count || reader.Read() ? (edge, keep) : null;
            }

            seen += count;
        }

        return null;
    }

    private static void KeepNewest(SqliteConnection connection, SqliteTransaction tx, long seq, string org, int keep)
    {
        List<RequestRecord> records;
        using (var read = connection.CreateCommand())
        {
            read.Transaction = tx;
            read.CommandText = "SELECT records FROM request_log_batches WHERE seq = $seq;";
            read.Parameters.AddWithValue("$seq", seq);
            using var reader = read.ExecuteReader();
            if (!reader.Read())
            {
                return;
            }

            records = Read(reader.GetFieldValue<byte[]>(0), org);
        }

        if (records.Count <= keep)
        {
            return;
        }

        var kept = records.GetRange(records.Count - keep, keep);
        var buffer = new ArrayBufferWriter<byte>(kept.Count * 160);
        long first, last;
        using (var json = new Utf8JsonWriter(buffer, WriterOptions))
        {
            (first, last) = Encode(json, buffer, kept, 0, kept.Count);
        }

        using var update = connection.CreateCommand();
        update.Transaction = tx;
        update.CommandText = "UPDATE request_log_batches SET first_at = $first, last_at = $last, count = $count, records = $records WHERE seq = $seq;";
        update.Parameters.AddWithValue("$first", first);
        update.Parameters.AddWithValue("$last", last);
        update.Parameters.AddWithValue("$count", kept.Count);
        update.Parameters.AddWithValue("$records", Encoding.UTF8.GetString(buffer.WrittenSpan));
        update.Parameters.AddWithValue("$seq", seq);
        update.ExecuteNonQuery();
    }

    /// <summary>
    /// Newest first: batches from the newest (or from the cursor's), each read from its newest record, until a
    /// page and one more are found. The cursor is the last record's batch and its position counted from the batch's
    /// newest record, which the cap's rewrite (it removes a batch's oldest records) leaves as it was.
    /// </summary>
    public async Task<RequestPage> QueryAsync(RequestQuery query, CancellationToken cancellationToken)
    {
        var notBefore = query.NotBefore.ToUnixTimeMilliseconds();
        var from = Math.Max(notBefore, query.From?.ToUnixTimeMilliseconds() ?? long.MinValue);
        var to = query.To?.ToUnixTimeMilliseconds() ?? long.MaxValue;
        (long Seq, long FromNewest)? cursor = query.Cursor is null ? null : ParseCursor(query.Cursor);

        await WriteHeldBeforeReadAsync(query.OrgId ?? "", cancellationToken);
        await using var connection = await _database.OpenAsync(cancellationToken);
        await using var command = connection.CreateCommand();
        var sql = new StringBuilder("SELECT seq, records FROM request_log_batches WHERE org_id = $org AND last_at >= $from AND first_at < $to AND seq <= $seq");

        // A batch whose text lacks the quoted value holds no record with it: skipped in SQLite, never decoded.
        Contains(sql, command, "$key", query.KeyId);
        Contains(sql, command, "$customer", query.CustomerId);
        Contains(sql, command, "$code", query.Code);
        if (query.Status is { } wanted)
        {
            // Written between two other elements, so always as ",<status>,".
            sql.Append(" AND instr(records, $status) > 0");
            command.Parameters.AddWithValue("$status", string.Create(CultureInfo.InvariantCulture, $",{wanted},"));
        }

        command.CommandText = sql.Append(" ORDER BY seq DESC;").ToString();
        command.Parameters.AddWithValue("$org", query.OrgId ?? "");
        command.Parameters.AddWithValue("$from", from);
        command.Parameters.AddWithValue("$to", to);
        command.Parameters.AddWithValue("$seq", cursor?.Seq ?? long.MaxValue);
        var items = new List<(long Seq, int FromNewest, RequestRecord Record)>();
        await using (var reader = await command.ExecuteReaderAsync(cancellationToken))
        {
            while (items.Count <= query.Limit && await reader.ReadAsync(cancellationToken))
            {
                var seq = reader.GetInt64(0);
                var records = Read(reader.GetFieldValue<byte[]>(1), query.OrgId ?? "");
                var start = cursor is { } c && c.Seq == seq ? records.Count - 1 - (int)Math.Min(c.FromNewest, records.Count) : records.Count - 1;
                for (var i = start; i >= 0 && items.Count <= query.Limit; i--)
                {
                    var r = records[i];
                    var at = r.Time.ToUnixTimeMilliseconds();
                    if (at >= from && at < to
                        && Matches(r.KeyId, query.KeyId) && Matches(r.CustomerId, query.CustomerId) && Matches(r.Code, query.Code)
                        && (query.Status is not { } status || r.Status == status))
                    {
                        items.Add((seq, records.Count - i, r));
                    }
                }
            }
        }

        string? next = null;
        if (items.Count > query.Limit)
        {
            items.RemoveAt(items.Count - 1);
            var last = items[^1];
            next = string.Create(CultureInfo.InvariantCulture, $"{last.Seq}-{last.FromNewest}");
        }

        return new RequestPage(items.Select(i => i.Record).ToList(), next);
    }

    private static void Contains(StringBuilder sql, SqliteCommand command, string parameter, string? value)
    {
        if (value is not null)
        {
            sql.Append(" AND instr(records, ").Append(parameter).Append(") > 0");
            command.Parameters.AddWithValue(parameter, Quoted(value));
        }
    }

    /// <summary>A string as the writer stores it, quotes included.</summary>
    private static string Quoted(string value) => "\"" + JsonEncodedText.Encode(value, WriterOptions.Encoder).Value + "\"";

    private static bool Matches(string? value, string? wanted) => wanted is null || string.Equals(value, wanted, StringComparison.Ordinal);

    /// <summary>
    /// Finds the batches whose text holds the id as a quoted JSON string (SQLite's <c>instr</c>, newest first),
    /// then the record in them: a scan of the retained log's text, in C, with no index kept per record.
    /// </summary>
    public async Task<RequestRecord?> FindAsync(string requestId, string? org, DateTimeOffset notBefore, CancellationToken cancellationToken)
    {
        var notBeforeMs = notBefore.ToUnixTimeMilliseconds();
        await WriteHeldBeforeReadAsync(null, cancellationToken);
        await using var connection = await _database.OpenAsync(cancellationToken);
        await using var command = connection.CreateCommand();
        command.CommandText = org is null
            ? "SELECT org_id, records FROM request_log_batches WHERE last_at >= $notBefore AND instr(records, $needle) > 0 ORDER BY seq DESC;"
            : "SELECT org_id, records FROM request_log_batches WHERE org_id = $org AND last_at >= $notBefore AND instr(records, $needle) > 0 ORDER BY seq DESC;";
        if (org is not null)
        {
            command.Parameters.AddWithValue("$org", org);
        }

        command.Parameters.AddWithValue("$notBefore", notBeforeMs);
        command.Parameters.AddWithValue("$needle", Quoted(requestId));
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        RequestRecord? newest = null;
        while (await reader.ReadAsync(cancellationToken))
        {
            // Rows are written per organization, some held longer than others for a fuller row, so a later row may
            // hold an older record: the newest is decided by time across every row that holds the id.
            var records = Read(reader.GetFieldValue<byte[]>(1), reader.GetString(0));
            for (var i = records.Count - 1; i >= 0; i--)
            {
                if (records[i].RequestId == requestId && records[i].Time.ToUnixTimeMilliseconds() >= notBeforeMs
                    && (newest is null || records[i].Time > newest.Time))
                {
                    newest = records[i];
                }
            }
        }

        return newest;
    }

    private static (long Seq, long FromNewest) ParseCursor(string cursor)
    {
        var parts = cursor.Split('-');
        return parts.Length == 2
            && long.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out var seq)
            && long.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out var fromNewest)
            ? (seq, fromNewest)
            : throw new InvalidCursorException();
    }

    private sealed class Held(long since)
    {
        public long Since { get; } = since;

        public List<RequestRecord> Records { get; } = [];
    }
}
