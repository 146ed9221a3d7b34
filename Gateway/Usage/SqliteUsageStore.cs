using Gateway.Configuration;
using Gateway.Stores.Sqlite;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Options;

namespace Gateway.Usage;

/// <summary>
/// Usage counts in the <c>usage</c> table of the embedded store (schema version 2). A flush is one
/// transaction of upserts that add to existing counts; roll-up and retention are two statements.
/// </summary>
internal sealed class SqliteUsageStore : IUsageStore
{
    private const int Minute = 0;
    private const int Hour = 1;

    private readonly SqliteDatabase _database;
    private readonly SqliteBackgroundWriter _writer;

    public SqliteUsageStore(IOptions<GatewayOptions> options, SqliteBackgroundWriter writer)
    {
        _database = new SqliteDatabase(options.Value.Store.Path, SqliteOpenMode.ReadWrite);
        _writer = writer;
    }

    public Task AddAsync(IReadOnlyList<UsageRecord> batch, CancellationToken cancellationToken) =>
        batch.Count == 0 ? Task.CompletedTask : _writer.RunAsync(connection => Add(connection, batch), cancellationToken);

    private static void Add(SqliteConnection connection, IReadOnlyList<UsageRecord> batch)
    {
        using var tx = connection.BeginTransaction();
        using (var upsert = new SqliteRowStatement(connection, """
            INSERT INTO usage (kind, subject, resolution, bucket, outcome, org_id, count)
            VALUES (?1, ?2, 0, ?3, ?4, ?5, ?6)
            ON CONFLICT (kind, subject, resolution, bucket, outcome) DO UPDATE SET count = count + excluded.count;
            """))
        {
            foreach (var record in batch)
            {
                upsert.Bind(1, (int)record.Kind);
                upsert.Bind(2, record.Subject);
                upsert.Bind(3, record.Start.ToUnixTimeMilliseconds());
                upsert.Bind(5, record.OrgId);
                for (var i = 0; i < record.Counts.Length; i++)
                {
                    if (record.Counts[i] == 0)
                    {
                        continue;
                    }

                    upsert.Bind(4, UsageOutcomes.All[i]);
                    upsert.Bind(6, record.Counts[i]);
                    upsert.Run();
                }
            }
        }

        tx.Commit();
    }

    public async Task<IReadOnlyList<UsageRow>> ReadAsync(UsageSubjectKind kind, IReadOnlyCollection<string>? subjects, DateTimeOffset since, DateTimeOffset until, CancellationToken cancellationToken)
    {
        var rows = new List<UsageRow>();
        if (subjects is { Count: 0 })
        {
            return rows;
        }

        await using var connection = await OpenAsync(cancellationToken);
        await using var command = connection.CreateCommand();
        var filter = "";
        if (subjects is not null)
        {
            // Parameters, never concatenated ids; SQLite allows 32766 of them, far above any org's key count.
            var names = subjects.Select((s, i) =>
            {
                command.Parameters.AddWithValue("$s" + i.ToString(System.Globalization.CultureInfo.InvariantCulture), s);
                return "$s" + i.ToString(System.Globalization.CultureInfo.InvariantCulture);
            }).ToList();
            filter = $" AND subject IN ({string.Join(',', names)})";
        }

        command.CommandText = $"SELECT subject, bucket, outcome, count FROM usage WHERE kind = $kind AND bucket >= $from AND bucket < $to{filter};";
        command.Parameters.AddWithValue("$kind", (int)kind);
        command.Parameters.AddWithValue("$from", since.ToUnixTimeMilliseconds());
        command.Parameters.AddWithValue("$to", until.ToUnixTimeMilliseconds());
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            rows.Add(new UsageRow(reader.GetString(0), DateTimeOffset.FromUnixTimeMilliseconds(reader.GetInt64(1)), reader.GetString(2), reader.GetInt64(3)));
        }

        return rows;
    }

    public Task CompactAsync(DateTimeOffset rollUpBefore, DateTimeOffset deleteBefore, CancellationToken cancellationToken) =>
        _writer.RunAsync(connection => Compact(connection, rollUpBefore, deleteBefore), cancellationToken);

    private static void Compact(SqliteConnection connection, DateTimeOffset rollUpBefore, DateTimeOffset deleteBefore)
    {
        using var tx = connection.BeginTransaction();
        using var command = connection.CreateCommand();
        command.Transaction = tx;
        command.CommandText = $"""
            INSERT INTO usage (kind, subject, resolution, bucket, outcome, org_id, count)
            SELECT kind, subject, {Hour}, bucket - (bucket % 3600000), outcome, org_id, SUM(count)
            FROM usage WHERE resolution = {Minute} AND bucket < $rollup
            GROUP BY kind, subject, bucket - (bucket % 3600000), outcome
            ON CONFLICT (kind, subject, resolution, bucket, outcome) DO UPDATE SET count = count + excluded.count;
            DELETE FROM usage WHERE resolution = {Minute} AND bucket < $rollup;
            DELETE FROM usage WHERE bucket < $delete;
            """;
        command.Parameters.AddWithValue("$rollup", rollUpBefore.ToUnixTimeMilliseconds());
        command.Parameters.AddWithValue("$delete", deleteBefore.ToUnixTimeMilliseconds());
        command.ExecuteNonQuery();
        tx.Commit();
    }

    private Task<SqliteConnection> OpenAsync(CancellationToken cancellationToken) => _database.OpenAsync(cancellationToken);
}
