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
/// <remarks>
/// A batch is written in numbered parts, each one script call that first checks and raises this process's mark
/// (<c>P{usage}:applied:&lt;process&gt;</c>, the number of the last part Redis applied). A part whose call failed
/// may still have run (a timeout says nothing about that: a Redis frozen for a moment runs what it had received once
/// it wakes up), so it is kept and sent again, unchanged and under its number, before anything else: Redis skips it
/// if it ran. Counting it again on the next flush, as the flusher does with what was not sent, counted those
/// requests twice.
/// </remarks>
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

    /// <summary>
    /// KEYS: this process's mark, the hour index, the roll-up index, the routes, then each record's hash. ARGV: the
    /// part's number, the mark's lifetime in seconds, then per record its field count n, n field and count pairs,
    /// and either '' (its minute was indexed before) or its lifetime in seconds, its index member, its hour and its
    /// route ('' for a key).
    /// </summary>
    private const string AddScript = """
        if tonumber(ARGV[1]) <= tonumber(redis.call('GET', KEYS[1]) or '0') then
          return 0
        end
        redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
        local a = 3
        for k = 5, #KEYS do
          local n = tonumber(ARGV[a])
          for f = a + 1, a + 2 * n, 2 do
            redis.call('HINCRBY', KEYS[k], ARGV[f], ARGV[f + 1])
          end
          a = a + 1 + 2 * n
          if ARGV[a] == '' then
            a = a + 1
          else
            redis.call('EXPIRE', KEYS[k], ARGV[a])
            redis.call('ZADD', KEYS[2], ARGV[a + 2], ARGV[a + 1])
            redis.call('ZADD', KEYS[3], ARGV[a + 2], ARGV[a + 1])
            if ARGV[a + 3] ~= '' then
              redis.call('SADD', KEYS[4], ARGV[a + 3])
            end
            a = a + 4
          end
        end
        return 1
        """;

    /// <summary>A day: a part is sent again within flushes of its first try, and a mark outlives its process by that.</summary>
    private const int MarkSeconds = 86_400;

    /// <summary>
    /// Arguments of one part at most: 2,400 <see cref="RedisValue"/>s (32 bytes each) and their copy stay off the
    /// large-object heap, a part's call holds Redis (single-threaded) only briefly, and it still takes 200 or so records.
    /// </summary>
    private const int MaxArgsPerPart = 2_400;

    private readonly RedisKey _root = new RedisKeys(options.Value.Store.RedisPrefix).UsageRoot;
    private readonly TimeSpan _retention = options.Value.Usage.Retention;

    /// <summary>This process's mark: a process's part numbers start at 1 whatever an earlier one reached.</summary>
    private readonly RedisKey _mark = new RedisKeys(options.Value.Store.RedisPrefix).UsageRoot.Append("applied:" + Guid.NewGuid().ToString("N"));

    /// <summary>Parts sent whose outcome is unknown, oldest first, sent again before anything else, with what they count.</summary>
    private readonly List<(RedisKey[] Keys, RedisValue[] Args, int Records, long Requests)> _inDoubt = [];

    // Parts are numbered and sent one at a time, in order: a part's mark then also says every earlier one ran. The
    // flusher adds one batch at a time (under UsageCounters.HandOver); 1 while a batch is being added.
    private int _adding;
    private long _parts;

    private IDatabase Db => redis.GetDatabase();

    /// <summary>Hashes by hour (member: the hash name without prefix, score: hour start in Unix seconds).</summary>
    private RedisKey Hours => _root.Append("hours");

    /// <summary>Hashes that still hold minute fields, by hour.</summary>
    private RedisKey Pending => _root.Append("rollup");

    private RedisKey Routes => _root.Append("routes");

    /// <summary>
    /// Records per part at most, each part awaited before the next is sent. A flush with 100,000 keys in use was one
    /// pipeline of some 400,000 commands on the connection the rate limiter's lease calls share, and they waited
    /// behind it. A part that fails ends the batch: the parts before it are written, the failed one is kept here (see
    /// the remarks), and only the rest goes back to the flusher.
    /// </summary>
    internal const int RecordsPerPart = 200;

    /// <summary>Parts waiting to be sent again (for tests).</summary>
    internal int InDoubt => _inDoubt.Count;

    /// <summary>Field names by minute of the hour and outcome (<c>07:allowed</c>): two strings per record otherwise.</summary>
    private static readonly string[][] MinuteFields = Enumerable.Range(0, 60)
        .Select(m => UsageOutcomes.All.Select(o => m.ToString("00", CultureInfo.InvariantCulture) + ":" + o).ToArray())
        .ToArray();

    public async Task AddAsync(IReadOnlyList<UsageRecord> batch, CancellationToken cancellationToken)
    {
        var db = Db;
        if (Interlocked.Exchange(ref _adding, 1) == 1)
        {
            throw new InvalidOperationException("Usage batches are added one at a time.");
        }

        try
        {
            while (_inDoubt.Count > 0)
            {
                var (keys, args, _, _) = _inDoubt[0];
                try
                {
                    await RedisCalls.Guard(() => db.ScriptEvaluateAsync(AddScript, keys, args), cancellationToken);
                }
                catch (Exception ex)
                {
                    // Nothing of this batch was sent.
                    throw Failed(batch, ex);
                }

                _inDoubt.RemoveAt(0);
            }

            var now = time.GetUtcNow();
            for (var start = 0; start < batch.Count;)
            {
                var (keys, args, end) = Part(batch, start, ++_parts, now);
                try
                {
                    await RedisCalls.Guard(() => db.ScriptEvaluateAsync(AddScript, keys, args), cancellationToken);
                }
                catch (Exception ex)
                {
                    var requests = 0L;
                    for (var n = start; n < end; n++)
                    {
                        requests += batch[n].Counts.Sum();
                    }

                    _inDoubt.Add((keys, args, end - start, requests));
                    throw Failed(batch.Skip(end).ToList(), ex);
                }

                start = end;
            }
        }
        finally
        {
            Volatile.Write(ref _adding, 0);
        }
    }

    // What the flusher logs, and counts as lost if shutdown comes first, includes the parts held here: a flush of
    // nothing new that failed to send one again reported "a batch of 0 usage records".
    private UsagePartlyWrittenException Failed(IReadOnlyList<UsageRecord> unwritten, Exception ex) => new(unwritten, ex)
    {
        InDoubtRecords = _inDoubt.Sum(p => p.Records),
        InDoubtRequests = _inDoubt.Sum(p => p.Requests),
    };

    /// <summary>The script call of the records from <paramref name="start"/> on that fit in one part, and where it ends.</summary>
    private (RedisKey[] Keys, RedisValue[] Args, int End) Part(IReadOnlyList<UsageRecord> batch, int start, long number, DateTimeOffset now)
    {
        // Sized first, so the arrays are allocated once at their final size.
        var end = start;
        var size = 2;
        while (end < batch.Count && end - start < RecordsPerPart)
        {
            var record = batch[end];
            var values = 1 + (2 * record.Counts.Count(c => c != 0)) + (record.Continued ? 1 : 4);
            if (end > start && size + values > MaxArgsPerPart)
            {
                break;
            }

            size += values;
            end++;
        }

        var keys = new RedisKey[4 + end - start];
        var args = new RedisValue[size];
        (keys[0], keys[1], keys[2], keys[3]) = (_mark, Hours, Pending, Routes);
        args[0] = number;
        args[1] = MarkSeconds;
        var a = 2;
        for (var n = start; n < end; n++)
        {
            var record = batch[n];
            var hour = Floor(record.Start);
            var member = Member(record.Kind, record.Subject, hour);
            keys[4 + n - start] = _root.Append(member);
            var fields = MinuteFields[record.Start.Minute];
            var count = a++;
            var pairs = 0;
            for (var i = 0; i < record.Counts.Length; i++)
            {
                if (record.Counts[i] != 0)
                {
                    args[a++] = fields[i];
                    args[a++] = record.Counts[i];
                    pairs++;
                }
            }

            args[count] = pairs;
            if (record.Continued)
            {
                // This process wrote this hash in full lately: its expiry and indexes are set. Once every ten minutes
                // per subject and hour, not per flush or minute, so a Redis that lost its data heals within ten minutes.
                args[a++] = "";
                continue;
            }

            // Relative TTL from the injected clock; compaction deletes on that clock too, the TTL is the backstop.
            var ttl = hour.AddHours(1) + _retention - now;
            args[a++] = (long)Math.Max(1, Math.Ceiling(ttl.TotalSeconds));
            args[a++] = member;
            args[a++] = hour.ToUnixTimeSeconds();
            args[a++] = record.Kind == UsageSubjectKind.Route ? record.Subject : "";
        }

        return (keys, args, end);
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
