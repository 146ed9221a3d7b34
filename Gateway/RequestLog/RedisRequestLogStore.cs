using System.Buffers;
using System.Globalization;
using System.Text.Json;
using Gateway.Configuration;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace Gateway.RequestLog;

/// <summary>
/// Request records in Redis: a stream per organization, <c>{prefix}reqlog:{org}</c> (hash tag per organization, so
/// organizations spread over a cluster's slots; <c>{prefix}reqlog:{}</c> holds requests under no organization,
/// <c>{prefix}reqlog:{~}</c> on a Cluster),
/// capped with MAXLEN and aged out with MINID, an entry per record (see <see cref="AddFields"/>). Beside each stream, in its slot, an index of request id to entry:
/// <c>{prefix}reqlog-idx:{org}</c>, which once it holds <c>MaxPerOrg</c> ids becomes <c>{prefix}reqlog-idx-old:{org}</c>
/// and starts again, so the two hold between one and two caps' worth of the newest ids, all the stream can hold,
/// and expire with the retention. A batch is one script call per hash slot (on a single server or Sentinel, one
/// per batch), cut after at most 200 records: the adds, and each index's expiry and turn when due (<see cref="UpkeepEvery"/>).
/// Filters are applied while reading newest first, so a filtered page may come back short with a cursor to go on.
/// </summary>
internal sealed class RedisRequestLogStore(IConnectionMultiplexer redis, IOptions<GatewayOptions> gateway, IOptions<RequestLogOptions> options, TimeProvider time) : IRequestLogStore
{
    private const int ScanBudget = 5_000;

    /// <summary>Entries a read asks Redis for at a time.</summary>
    private const int ScanStep = 200;

    /// <summary>
    /// How far an instance's clock, which times a record, may be ahead of Redis's, which times the entry that stores it
    /// (its id). An entry is stored after its request arrived, so its id is never earlier than its record's time by more
    /// than this: reads stop this much before <c>from</c> (or the retention) in the stored order, and the retention's trim
    /// keeps this much more. An instance whose clock is further ahead has records stored that early reads may miss.
    /// </summary>
    internal static readonly TimeSpan ClockSkew = TimeSpan.FromMinutes(1);

    /// <summary>
    /// Records in one script call at most. <see cref="ValuesPerRecord"/> values each and one per organization's part,
    /// so a call's argument list stays under the large-object heap's 85,000 bytes (a <see cref="RedisValue"/> takes 32).
    /// When a record took
    /// a field per column, 200 records made a call's list and its copy about 170 KB each: two large-object arrays every
    /// couple of hundred requests, and under load a collection of the whole heap every two seconds (docs/performance.md).
    /// </summary>
    private const int RecordsPerCall = 200;

    /// <summary>A record's fields' names and values (<see cref="AddFields"/>).</summary>
    private const int FieldValues = 4;

    /// <summary>A record's arguments: its request id, its field count and its fields.</summary>
    private const int ValuesPerRecord = 2 + FieldValues;

    /// <summary>
    /// KEYS: per organization, its stream, its index and the index's previous generation. ARGV: the cap, the
    /// index's lifetime in seconds, then per organization its record count, whether to look after its index (1 or 0,
    /// see <see cref="OrgLog"/>), and per record its request id, its field count and its fields. The stream's MAXLEN
    /// is approximate (Redis trims whole nodes, far cheaper than exactly on every add); TrimAsync makes it exact.
    /// Looking after an index turns it first when this part's ids would take it to the cap, so an index made anew
    /// gets its expiry in the same call; the two generations then still hold every id the stream holds. Returns, per
    /// organization looked after, the index's length after the adds (ids already there counted again: never less).
    /// </summary>
    private const string AppendScript = """
        local cap = tonumber(ARGV[1])
        local lengths = {}
        local i = 3
        for k = 1, #KEYS, 3 do
          local count = tonumber(ARGV[i])
          local upkeep = ARGV[i + 1] == '1'
          local length = 0
          if upkeep then
            length = redis.call('HLEN', KEYS[k + 1])
            if length > 0 and length + count >= cap then
              redis.call('RENAME', KEYS[k + 1], KEYS[k + 2])
              length = 0
            end
          end
          i = i + 2
          local index = {}
          for _ = 1, count do
            local n = tonumber(ARGV[i + 1])
            local id = redis.call('XADD', KEYS[k], 'MAXLEN', '~', cap, '*', unpack(ARGV, i + 2, i + 1 + n))
            index[#index + 1] = ARGV[i]
            index[#index + 1] = id
            i = i + 2 + n
            if #index == 1000 then
              -- unpack is bounded by Lua's C stack (8000 values); a batch may hold up to 10000 records
              redis.call('HSET', KEYS[k + 1], unpack(index))
              index = {}
            end
          end
          if #index > 0 then
            redis.call('HSET', KEYS[k + 1], unpack(index))
          end
          if upkeep then
            redis.call('EXPIRE', KEYS[k + 1], ARGV[2])
            lengths[#lengths + 1] = length + count
          end
        end
        return lengths
        """;

    /// <summary>
    /// How long an organization's index goes without its expiry set again and its length checked, when its records
    /// come slowly. The index lives this much longer than the retention, so it never expires before its last id has.
    /// </summary>
    internal static readonly TimeSpan UpkeepEvery = TimeSpan.FromMinutes(1);

    private readonly string _prefix = gateway.Value.Store.RedisPrefix;

    /// <summary>
    /// Organizations this process has added to <see cref="Organizations"/>: one <c>SADD</c> per organization per
    /// process, not per batch (at a spread of a record per organization per batch, that was a command per request).
    /// </summary>
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, byte> _listed = new(StringComparer.Ordinal);

    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, OrgLog> _names = new(StringComparer.Ordinal);

    private string? _noOrgTag;

    private IDatabase Db => redis.GetDatabase();

    /// <summary>Every organization that has a log ('' for none), for a request-id lookup that does not know the organization.</summary>
    private RedisKey Organizations => _prefix + "reqlog-orgs";

    public async Task AppendAsync(IReadOnlyList<RequestRecord> records, CancellationToken cancellationToken)
    {
        if (records.Count == 0)
        {
            return;
        }

        var db = Db;
        var cap = options.Value.MaxPerOrg;
        var lifetime = (long)Math.Ceiling((options.Value.Retention + UpkeepEvery).TotalSeconds);
        var calls = new List<Task>();
        var appends = new List<(Task<RedisResult> Call, OrgLog[] LookedAfter)>();
        var listing = new List<string>();
        // One script call per hash slot, not per organization: a call costs Redis far more than the few commands
        // an organization's share of a batch runs, and a batch spread over many organizations holds a record or
        // two each. A single server or Sentinel has no slots (HashSlot is -1 for every key): one call per batch,
        // cut so that none holds more than RecordsPerCall records, so no call holds Redis (single-threaded) for
        // long. Sized per call: sizing every list for the whole batch made hundreds of large-object arrays.
        var organizations = records.GroupBy(r => r.OrgId ?? "", StringComparer.Ordinal)
            .Select(g =>
            {
                var org = g.Key.Length == 0 ? null : g.Key;
                return (Records: (IEnumerable<RequestRecord>)g, Org: org, Names(org).Stream);
            });
        foreach (var slot in organizations.GroupBy(o => redis.HashSlot(o.Stream)))
        {
            foreach (var (_, org, _) in slot)
            {
                var listed = org ?? "";
                if (!_listed.ContainsKey(listed))
                {
                    calls.Add(db.SetAddAsync(Organizations, listed));
                    listing.Add(listed);
                }
            }

            foreach (var (keys, args, lookedAfter) in ScriptCalls(slot, cap, lifetime))
            {
                var call = db.ScriptEvaluateAsync(AppendScript, keys, args);
                calls.Add(call);
                appends.Add((call, lookedAfter));
            }
        }

        await Task.WhenAll(calls);

        // In the order Redis ran them: a busy organization's later part read the index after its earlier one.
        var due = time.GetUtcNow().UtcTicks + UpkeepEvery.Ticks;
        foreach (var (call, lookedAfter) in appends)
        {
            var lengths = (RedisResult[])call.Result!;
            for (var i = 0; i < lookedAfter.Length; i++)
            {
                lookedAfter[i].LookedAfter((long)lengths[i], due);
            }
        }

        // Only once Redis took them: a failed write is tried again with the next batch.
        foreach (var org in listing)
        {
            _listed.TryAdd(org, 0);
        }
    }

    public async Task TrimAsync(IReadOnlyCollection<string?> orgs, DateTimeOffset olderThan, int maxPerOrg, CancellationToken cancellationToken)
    {
        var db = Db;
        // By entry id, Redis's clock when each was stored: an entry stored a little before its record's time by the
        // instance's clock still holds a record within the retention.
        var minId = StoredNoEarlierThan(olderThan);
        await Task.WhenAll(orgs.SelectMany(org => new[]
        {
            db.ExecuteAsync("XTRIM", Stream(org), "MINID", minId),
            db.ExecuteAsync("XTRIM", Stream(org), "MAXLEN", maxPerOrg),
        }));
    }

    /// <summary>
    /// Newest stored first, from the newest entry (or the cursor's) down to the oldest entry that can still hold a
    /// record at or after <c>from</c> (or the retention), filtering on every record's time exactly. Entries are in the
    /// order they were stored, not in the order of their records' times: a record is stored once its request has ended
    /// (a long request after shorter ones that started later) and each instance stores its own batches, so the scan
    /// may not stop at the first record older than <c>from</c>. What bounds it is that an entry's id, Redis's clock
    /// when it was stored, is never before its record's time, up to <see cref="ClockSkew"/>. <c>to</c> bounds nothing:
    /// a record stored at any time after its start may be before <c>to</c>.
    /// </summary>
    public async Task<RequestPage> QueryAsync(RequestQuery query, CancellationToken cancellationToken)
    {
        RedisValue max = "+";
        if (query.Cursor is not null)
        {
            if (!IsStreamId(query.Cursor))
            {
                throw new InvalidCursorException();
            }

            max = "(" + query.Cursor;
        }

        var notBefore = query.From is { } from && from > query.NotBefore ? from : query.NotBefore;
        var min = StoredNoEarlierThan(notBefore);
        var db = Db;
        var key = Stream(query.OrgId);
        var items = new List<(string Id, RequestRecord Record)>();
        var scanned = 0;
        string? lastScanned = null;
        var exhausted = false;
        while (items.Count <= query.Limit && scanned < ScanBudget)
        {
            var batch = await db.StreamRangeAsync(key, min, max, count: ScanStep, messageOrder: Order.Descending);
            foreach (var entry in batch)
            {
                scanned++;
                lastScanned = entry.Id!;
                var record = Read(query.OrgId, entry);
                if (record.Time >= notBefore && Matches(record, query))
                {
                    items.Add((entry.Id!, record));
                    if (items.Count > query.Limit)
                    {
                        break;
                    }
                }
            }

            if (batch.Length < ScanStep)
            {
                // Nothing stored further down can hold a record in range.
                exhausted = true;
                break;
            }

            max = "(" + lastScanned;
        }

        if (items.Count > query.Limit)
        {
            items.RemoveAt(items.Count - 1);
            return new RequestPage(items.Select(i => i.Record).ToList(), items[^1].Id);
        }

        // The scan budget ran out before the page filled: the caller goes on from where the scan stopped.
        return new RequestPage(items.Select(i => i.Record).ToList(), exhausted ? null : lastScanned);
    }

    /// <summary>
    /// Looks the id up in <paramref name="org"/>'s index, or in every organization's at once (one pipelined round); a
    /// client-chosen <c>X-Request-Id</c> may be in several, and the newest such record wins. Pointers an earlier version kept
    /// per request id (<c>reqlog-id:</c>, expiring with the retention) are still read.
    /// </summary>
    public async Task<RequestRecord?> FindAsync(string requestId, string? org, DateTimeOffset notBefore, CancellationToken cancellationToken)
    {
        var db = Db;
        var orgs = org is not null
            ? new List<string?> { org }
            : (await db.SetMembersAsync(Organizations)).Select(o => (string?)o is { Length: > 0 } text ? text : null).ToList();
        var batch = db.CreateBatch();
        var lookups = orgs.Select(o => (Org: o, Now: batch.HashGetAsync(Index(o), requestId), Before: batch.HashGetAsync(PreviousIndex(o), requestId))).ToList();
        var legacy = batch.StringGetAsync(LegacyIdKey(requestId));
        batch.Execute();
        await Task.WhenAll(lookups.SelectMany(l => new[] { l.Now, l.Before }).Append(legacy));

        var candidates = new List<(string? Org, string Id)>();
        foreach (var (of, now, before) in lookups)
        {
            if ((now.Result.IsNull ? before.Result : now.Result) is { IsNull: false } id)
            {
                candidates.Add((of, id!));
            }
        }

        if (candidates.Count == 0 && (string?)legacy.Result is { } pointer && pointer.IndexOf('\n', StringComparison.Ordinal) is var split and >= 0
            && (pointer[..split] is { Length: > 0 } o ? o : null) is var pointed && (org is null || pointed == org))
        {
            candidates.Add((pointed, pointer[(split + 1)..]));
        }

        RequestRecord? newest = null;
        foreach (var (of, id) in candidates)
        {
            var entries = await db.StreamRangeAsync(Stream(of), id, id, count: 1);
            if (entries.Length > 0 && Read(of, entries[0]) is { } record && record.Time >= notBefore && (newest is null || record.Time > newest.Time))
            {
                newest = record;
            }
        }

        return newest;
    }

    /// <summary>
    /// The hash tag of the records under no organization. On a Cluster an empty tag ("{}") hashes the whole key
    /// name, which put the stream and its indexes in different slots, and the batch script was refused; "~" (no
    /// organization id has one) keeps them together. A single server or Sentinel has no slots and keeps the name
    /// earlier versions wrote, so their records stay in view.
    /// </summary>
    private string NoOrgTag => _noOrgTag ??= redis.HashSlot("reqlog") < 0 ? "" : "~";

    private RedisKey Stream(string? org) => _prefix + "reqlog:{" + (org ?? NoOrgTag) + "}";

    private RedisKey Index(string? org) => _prefix + "reqlog-idx:{" + (org ?? NoOrgTag) + "}";

    private RedisKey PreviousIndex(string? org) => _prefix + "reqlog-idx-old:{" + (org ?? NoOrgTag) + "}";

    private RedisKey LegacyIdKey(string requestId) => _prefix + "reqlog-id:{" + requestId + "}";

    /// <summary>The lowest entry id that can hold a record timed <paramref name="time"/> or later (see <see cref="ClockSkew"/>).</summary>
    private static RedisValue StoredNoEarlierThan(DateTimeOffset time) =>
        Math.Max(0, time.ToUnixTimeMilliseconds() - (long)ClockSkew.TotalMilliseconds).ToString(CultureInfo.InvariantCulture) + "-0";

    private static bool Matches(RequestRecord r, RequestQuery q) =>
        (q.KeyId is null || r.KeyId == q.KeyId)
        && (q.CustomerId is null || r.CustomerId == q.CustomerId)
        && (q.Code is null || r.Code == q.Code)
        && (q.Status is null || r.Status == q.Status)
        && (q.To is null || r.Time < q.To);

    private static bool IsStreamId(string text)
    {
        var parts = text.Split('-');
        return parts.Length == 2 && parts.All(p => p.Length is > 0 and < 21 && p.All(char.IsAsciiDigit));
    }

    /// <summary>
    /// The append script's calls for organizations whose streams share a hash slot: keys and arguments of each, each
    /// array allocated once at its final size (growing lists and copying them out cost more than the records' own bytes).
    /// </summary>
    internal IEnumerable<(RedisKey[] Keys, RedisValue[] Arguments, OrgLog[] LookedAfter)> ScriptCalls(
        IEnumerable<(IEnumerable<RequestRecord> Records, string? Org, RedisKey Stream)> organizations, int cap, long lifetime)
    {
        var now = time.GetUtcNow().UtcTicks;
        var parts = new List<(RequestRecord[] Records, string? Org, RedisKey Stream)>();
        var inCall = 0;
        var buffer = new ArrayBufferWriter<byte>(512);
        using var json = new Utf8JsonWriter(buffer, RequestRecordJson.WriterOptions);
        foreach (var (records, org, stream) in organizations)
        {
            // A busy organization's records go in parts of at most RecordsPerCall, each a call of its own.
            foreach (var part in records.Chunk(RecordsPerCall))
            {
                if (inCall + part.Length > RecordsPerCall)
                {
                    yield return Call(parts, inCall, cap, lifetime, now, buffer, json);
                    (parts, inCall) = ([], 0);
                }

                parts.Add((part, org, stream));
                inCall += part.Length;
            }
        }

        if (parts.Count > 0)
        {
            yield return Call(parts, inCall, cap, lifetime, now, buffer, json);
        }
    }

    private (RedisKey[] Keys, RedisValue[] Arguments, OrgLog[] LookedAfter) Call(
        List<(RequestRecord[] Records, string? Org, RedisKey Stream)> parts, int records, int cap, long lifetime, long now, ArrayBufferWriter<byte> buffer, Utf8JsonWriter json)
    {
        var keys = new RedisKey[3 * parts.Count];
        var args = new RedisValue[2 + (2 * parts.Count) + (records * ValuesPerRecord)];
        args[0] = cap;
        args[1] = lifetime;
        var lookedAfter = new List<OrgLog>();
        var a = 2;
        var k = 0;
        foreach (var (part, org, stream) in parts)
        {
            var log = Names(org);
            keys[k++] = stream;
            keys[k++] = log.Index;
            keys[k++] = log.Previous;
            args[a++] = part.Length;
            var upkeep = log.Upkeep(part.Length, cap, now);
            args[a++] = upkeep ? 1 : 0;
            if (upkeep)
            {
                lookedAfter.Add(log);
            }

            foreach (var record in part)
            {
                args[a++] = record.RequestId;
                args[a++] = FieldValues;
                AddFields(args, ref a, record, buffer, json);
            }
        }

        return (keys, args, [.. lookedAfter]);
    }

    /// <summary>
    /// An organization's key names, made once per organization this process logs for rather than three per batch,
    /// and its index's upkeep. Bounded by the organizations there are, as <see cref="_listed"/> is.
    /// </summary>
    private OrgLog Names(string? org) =>
        _names.GetOrAdd(org ?? "", static (o, store) =>
        {
            var name = o.Length == 0 ? null : o;
            return new OrgLog(store.Stream(name), store.Index(name), store.PreviousIndex(name));
        }, this);

    /// <summary>
    /// An organization's key names and when its index next needs looking after: its expiry set again and its length
    /// checked against the cap. Every batch did both, and with records spread over thousands of organizations a batch
    /// holds a record or two of each, so that was two more Redis commands for nearly every request.
    /// </summary>
    /// <remarks>
    /// Touched by the one writer that appends, so plain fields. An index expires no sooner than the retention and
    /// <see cref="UpkeepEvery"/> after an instance last looked after it, by when that instance's own upkeep is due:
    /// an index made anew by an append is looked after in the same call, whichever instance made it.
    /// </remarks>
    internal sealed class OrgLog(RedisKey stream, RedisKey index, RedisKey previous)
    {
        private long _dueTicks;

        // The length Redis last gave plus what this process added since: other instances' adds are not in it, so
        // with several an index may pass the cap by their share of a minute's records before it turns.
        private long _length;

        public RedisKey Stream { get; } = stream;

        public RedisKey Index { get; } = index;

        public RedisKey Previous { get; } = previous;

        /// <summary>Whether a part of <paramref name="records"/> records looks after the index; counts them if not.</summary>
        public bool Upkeep(int records, int cap, long nowTicks)
        {
            if (nowTicks >= _dueTicks || _length + records >= cap)
            {
                return true;
            }

            _length += records;
            return false;
        }

        /// <summary>What an upkeep found, once Redis ran it.</summary>
        public void LookedAfter(long length, long dueTicks) => (_length, _dueTicks) = (length, dueTicks);
    }

    /// <summary>
    /// The stored format: the record as <see cref="RequestRecordJson"/> writes it, in field <c>v</c>, and its time
    /// in <c>t</c> as well. One field instead of one per column: at a record per request, building, sending and
    /// appending two dozen values per record was most of what the log cost the gateway and Redis
    /// (docs/performance.md). <c>t</c> keeps an instance of an earlier version, during a rolling upgrade, scanning
    /// newest first and stopping at the retention as before.
    /// </summary>
    private static void AddFields(RedisValue[] args, ref int at, RequestRecord r, ArrayBufferWriter<byte> buffer, Utf8JsonWriter json)
    {
        buffer.ResetWrittenCount();
        json.Reset(buffer);
        RequestRecordJson.Write(json, r);
        json.Flush();
        args[at++] = "t";
        args[at++] = r.Time.ToUnixTimeMilliseconds();
        args[at++] = "v";
        args[at++] = buffer.WrittenSpan.ToArray();
    }

    private static RequestRecord Read(string? org, StreamEntry entry)
    {
        if (entry["v"] is { IsNull: false } packed)
        {
            var json = new Utf8JsonReader((byte[])packed!);
            json.Read();
            return RequestRecordJson.Read(ref json, org);
        }

        // Written by an earlier version: a field per column, read until the retention has aged them out.
        string? Get(string name) => entry[name] is { IsNull: false } v ? (string?)v : null;
        return new RequestRecord(
            DateTimeOffset.FromUnixTimeMilliseconds(long.Parse(Get("t") ?? "0", CultureInfo.InvariantCulture)),
            Get("r") ?? "",
            org,
            Get("k"),
            Get("c"),
            Get("m") ?? "",
            Get("p") ?? "",
            Get("ro"),
            int.Parse(Get("s") ?? "0", CultureInfo.InvariantCulture),
            Get("co"),
            double.Parse(Get("d") ?? "0", CultureInfo.InvariantCulture),
            Get("ip"),
            Get("u") is { } u ? int.Parse(u, CultureInfo.InvariantCulture) : null);
    }
}
