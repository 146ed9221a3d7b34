using System.Globalization;
using Gateway.Configuration;
using Gateway.Stores.Redis;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace Gateway.Usage;

/// <summary>
/// Usage counts in Redis: one hash per subject and hour, <c>P{usage}:k:&lt;keyId&gt;:&lt;yyyyMMddHH&gt;</c>
/// (<c>r:&lt;route&gt;</c> for requests without a known key), with fields <c>&lt;minute&gt;:&lt;outcome&gt;</c>
/// incremented by HINCRBY and, once rolled up, <c>h:&lt;outcome&gt;</c>. Every hash expires after the
/// retention period; two sorted sets index the hashes by hour so reads and compaction never SCAN.
/// </summary>
internal sealed class RedisUsageStore(IConnectionMultiplexer redis, IOptions<GatewayOptions> options, TimeProvider time) : IUsageStore
{
    private const string HourField = "h";

    // Rolls one hour's minute fields into h:<outcome> fields, atomically per hash.
    private const string RollUpScript = """
        local fields = redis.call('HGETALL', KEYS[1])
        local sums = {}
        local drop = {}
        for i = 1, #fields, 2 do
          local f = fields[i]
          if string.sub(f, 1, 2) ~= 'h:' then
            local outcome = string.sub(f, 4)
            sums[outcome] = (sums[outcome] or 0) + tonumber(fields[i + 1])
            drop[#drop + 1] = f
          end
        end
        for outcome, n in pairs(sums) do redis.call('HINCRBY', KEYS[1], 'h:' .. outcome, n) end
        if #drop > 0 then redis.call('HDEL', KEYS[1], unpack(drop)) end
        return #drop
        """;

    private readonly RedisKey _root = new RedisKeys(options.Value.Store.RedisPrefix).UsageRoot;
    private readonly TimeSpan _retention = options.Value.Usage.Retention;

    private IDatabase Db => redis.GetDatabase();

    /// <summary>Hashes by hour (member: the hash name without prefix, score: hour start in Unix seconds).</summary>
    private RedisKey Hours => _root.Append("hours");

    /// <summary>Hashes that still hold minute fields, by hour.</summary>
    private RedisKey Pending => _root.Append("rollup");

    private RedisKey Routes => _root.Append("routes");

    /// <summary>
    /// Records per pipeline, each awaited before the next is sent. A flush with 100,000 keys in use was one pipeline
    /// of some 400,000 commands on the connection the rate limiter's lease calls share, and they waited behind it.
    /// A part that fails ends the batch: the parts before it are written, so only the rest goes back to the flusher.
    /// </summary>
    internal const int RecordsPerPipeline = 1000;

    /// <summary>Field names by minute of the hour and outcome (<c>07:allowed</c>): two strings per record otherwise.</summary>
    private static readonly string[][] MinuteFields = Enumerable.Range(0, 60)
        .Select(m => UsageOutcomes.All.Select(o => m.ToString("00", CultureInfo.InvariantCulture) + ":" + o).ToArray())
        .ToArray();

    public async Task AddAsync(IReadOnlyList<UsageRecord> batch, CancellationToken cancellationToken)
    {
        var db = Db;
        var now = time.GetUtcNow();
        var writes = new List<Task>();
        for (var start = 0; start < batch.Count; start += RecordsPerPipeline)
        {
            var pipeline = db.CreateBatch();
            writes.Clear();
            for (var n = start; n < Math.Min(start + RecordsPerPipeline, batch.Count); n++)
            {
                var record = batch[n];
                var hour = Floor(record.Start);
                var member = Member(record.Kind, record.Subject, hour);
                var key = _root.Append(member);
                var fields = MinuteFields[record.Start.Minute];
                for (var i = 0; i < record.Counts.Length; i++)
                {
                    if (record.Counts[i] != 0)
                    {
                        writes.Add(pipeline.HashIncrementAsync(key, fields[i], record.Counts[i]));
                    }
                }

                if (record.Continued)
                {
                    // This process wrote the same minute of this hash in a batch Redis took: its expiry and indexes are
                    // set. Once a minute per subject, not per flush, so a Redis that lost its data heals within a minute.
                    continue;
                }

                // Relative TTL from the injected clock; compaction deletes on that clock too, the TTL is the backstop.
                var ttl = hour.AddHours(1) + _retention - now;
                writes.Add(pipeline.KeyExpireAsync(key, ttl > TimeSpan.FromSeconds(1) ? ttl : TimeSpan.FromSeconds(1)));
                writes.Add(pipeline.SortedSetAddAsync(Hours, member, hour.ToUnixTimeSeconds()));
                writes.Add(pipeline.SortedSetAddAsync(Pending, member, hour.ToUnixTimeSeconds()));
                if (record.Kind == UsageSubjectKind.Route)
                {
                    writes.Add(pipeline.SetAddAsync(Routes, record.Subject));
                }
            }

            pipeline.Execute();
            try
            {
                await RedisCalls.Guard(() => Task.WhenAll(writes), cancellationToken);
            }
            catch (Exception ex) when (start > 0)
            {
                throw new UsagePartlyWrittenException(batch.Skip(start).ToList(), ex);
            }
        }
    }

    public async Task<IReadOnlyList<UsageRow>> ReadAsync(UsageSubjectKind kind, IReadOnlyCollection<string>? subjects, DateTimeOffset since, DateTimeOffset until, CancellationToken cancellationToken)
    {
        var rows = new List<UsageRow>();
        if (subjects is { Count: 0 })
        {
            return rows;
        }

        var wanted = subjects?.ToHashSet(StringComparer.Ordinal);
        var members = await RedisCalls.Guard(() => Db.SortedSetRangeByScoreAsync(Hours, Floor(since).ToUnixTimeSeconds(), until.ToUnixTimeSeconds(), Exclude.Stop), cancellationToken);
        var hashes = new List<(string Subject, DateTimeOffset Hour, Task<HashEntry[]> Read)>();
        var pipeline = Db.CreateBatch();
        foreach (var member in members)
        {
            if (!TryParse(member!, out var memberKind, out var subject, out var hour) || memberKind != kind || (wanted is not null && !wanted.Contains(subject)))
            {
                continue;
            }

            hashes.Add((subject, hour, pipeline.HashGetAllAsync(_root.Append((string)member!))));
        }

        pipeline.Execute();
        await RedisCalls.Guard(() => Task.WhenAll(hashes.Select(h => h.Read)), cancellationToken);
        foreach (var (subject, hour, read) in hashes)
        {
            foreach (var entry in read.Result)
            {
                var field = (string)entry.Name!;
                var colon = field.IndexOf(':', StringComparison.Ordinal);
                if (colon < 1)
                {
                    continue;
                }

                var at = field[..colon] == HourField
                    ? hour
                    : hour.AddMinutes(int.Parse(field.AsSpan(0, colon), NumberStyles.None, CultureInfo.InvariantCulture));
                if (at >= since && at < until)
                {
                    rows.Add(new UsageRow(subject, at, field[(colon + 1)..], (long)entry.Value));
                }
            }
        }

        return rows;
    }

    public async Task CompactAsync(DateTimeOffset rollUpBefore, DateTimeOffset deleteBefore, CancellationToken cancellationToken)
    {
        var db = Db;
        var expired = await RedisCalls.Guard(() => db.SortedSetRangeByScoreAsync(Hours, double.NegativeInfinity, deleteBefore.ToUnixTimeSeconds(), Exclude.Stop), cancellationToken);
        foreach (var member in expired)
        {
            await RedisCalls.Guard(() => db.KeyDeleteAsync(_root.Append((string)member!)), cancellationToken);
            await RedisCalls.Guard(() => db.SortedSetRemoveAsync(Hours, member), cancellationToken);
            await RedisCalls.Guard(() => db.SortedSetRemoveAsync(Pending, member), cancellationToken);
        }

        var due = await RedisCalls.Guard(() => db.SortedSetRangeByScoreAsync(Pending, double.NegativeInfinity, rollUpBefore.ToUnixTimeSeconds(), Exclude.Stop), cancellationToken);
        foreach (var member in due)
        {
            await RedisCalls.Guard(() => db.ScriptEvaluateAsync(RollUpScript, [_root.Append((string)member!)]), cancellationToken);
            await RedisCalls.Guard(() => db.SortedSetRemoveAsync(Pending, member), cancellationToken);
        }

        // Routes with no hour left are forgotten, so a removed route does not linger in the index.
        var routes = await RedisCalls.Guard(() => db.SetMembersAsync(Routes), cancellationToken);
        if (routes.Length > 0)
        {
            var live = (await RedisCalls.Guard(() => db.SortedSetRangeByRankAsync(Hours), cancellationToken))
                .Select(m => TryParse(m!, out var k, out var s, out _) && k == UsageSubjectKind.Route ? s : null)
                .OfType<string>().ToHashSet(StringComparer.Ordinal);
            foreach (var route in routes.Where(r => !live.Contains(r!)))
            {
                await RedisCalls.Guard(() => db.SetRemoveAsync(Routes, route), cancellationToken);
            }
        }
    }

    private static string Member(UsageSubjectKind kind, string subject, DateTimeOffset hour) =>
        (kind == UsageSubjectKind.Key ? "k:" : "r:") + subject + ":" + hour.ToString("yyyyMMddHH", CultureInfo.InvariantCulture);

    private static bool TryParse(string member, out UsageSubjectKind kind, out string subject, out DateTimeOffset hour)
    {
        kind = member.StartsWith("k:", StringComparison.Ordinal) ? UsageSubjectKind.Key : UsageSubjectKind.Route;
        subject = "";
        hour = default;
        var last = member.LastIndexOf(':');
        if (member.Length < 4 || member[1] != ':' || last < 2
            || !DateTimeOffset.TryParseExact(member.AsSpan(last + 1), "yyyyMMddHH", CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out hour))
        {
            return false;
        }

        subject = member[2..last];
        return true;
    }

    private static DateTimeOffset Floor(DateTimeOffset value) =>
        new(value.UtcTicks - (value.UtcTicks % TimeSpan.TicksPerHour), TimeSpan.Zero);
}
