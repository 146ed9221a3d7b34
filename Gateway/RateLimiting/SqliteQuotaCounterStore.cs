using Gateway.Configuration;
using Gateway.Stores.Sqlite;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Options;

namespace Gateway.RateLimiting;

/// <summary>Counters in the <c>quota_counters</c> table of the embedded store (schema version 6).</summary>
internal sealed class SqliteQuotaCounterStore(IOptions<GatewayOptions> options) : IQuotaCounterStore
{
    private readonly SqliteDatabase _database = new(options.Value.Store.Path, SqliteOpenMode.ReadWrite);

    public async Task<long> LoadAsync(string partition, CancellationToken cancellationToken)
    {
        await using var connection = await _database.OpenAsync(cancellationToken);
        await using var command = connection.CreateCommand();
        command.CommandText = "SELECT used FROM quota_counters WHERE partition = $p;";
        command.Parameters.AddWithValue("$p", partition);
        return await command.ExecuteScalarAsync(cancellationToken) is long used ? used : 0;
    }

    public async Task SaveAsync(IReadOnlyList<(string Partition, long Used, DateTimeOffset? ExpiresAt)> counters, CancellationToken cancellationToken)
    {
        await using var connection = await _database.OpenAsync(cancellationToken);
        await using var transaction = connection.BeginTransaction();
        await using var command = connection.CreateCommand();
        command.CommandText = "INSERT INTO quota_counters (partition, used, expires_at) VALUES ($p, $u, $e) ON CONFLICT(partition) DO UPDATE SET used = $u, expires_at = $e;";
        var p = command.Parameters.Add("$p", SqliteType.Text);
        var u = command.Parameters.Add("$u", SqliteType.Integer);
        var e = command.Parameters.Add("$e", SqliteType.Integer);
        foreach (var counter in counters)
        {
            p.Value = counter.Partition;
            u.Value = counter.Used;
            e.Value = counter.ExpiresAt?.ToUnixTimeMilliseconds() ?? long.MaxValue;
            await command.ExecuteNonQueryAsync(cancellationToken);
        }

        await transaction.CommitAsync(cancellationToken);
    }

    /// <summary>Every counter still in its period, for <c>migrate-store</c>.</summary>
    internal async Task<IReadOnlyList<(string Partition, long Used, DateTimeOffset? ExpiresAt)>> ListAsync(DateTimeOffset now, CancellationToken cancellationToken)
    {
        await using var connection = await _database.OpenAsync(cancellationToken);
        await using var command = connection.CreateCommand();
        command.CommandText = "SELECT partition, used, expires_at FROM quota_counters WHERE expires_at >= $now;";
        command.Parameters.AddWithValue("$now", now.ToUnixTimeMilliseconds());
        var counters = new List<(string, long, DateTimeOffset?)>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            var expires = reader.GetInt64(2);
            counters.Add((reader.GetString(0), reader.GetInt64(1), expires == long.MaxValue ? null : DateTimeOffset.FromUnixTimeMilliseconds(expires)));
        }

        return counters;
    }

    public async Task DeleteExpiredAsync(DateTimeOffset now, CancellationToken cancellationToken)
    {
        await using var connection = await _database.OpenAsync(cancellationToken);
        await using var command = connection.CreateCommand();
        command.CommandText = "DELETE FROM quota_counters WHERE expires_at < $now;";
        command.Parameters.AddWithValue("$now", now.ToUnixTimeMilliseconds());
        await command.ExecuteNonQueryAsync(cancellationToken);
    }
}
