using System.Globalization;
using Gateway.Configuration;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace Gateway.RequestLog;

/// <summary>
/// Request records in Redis: a stream per organization, <c>{prefix}reqlog:{org}</c> (hash tag per organization, so
/// organizations spread over a cluster's slots; <c>{prefix}reqlog:{}</c> holds requests under no organization),
/// capped exactly with MAXLEN on every add and aged out with MINID; and <c>{prefix}reqlog-id:{requestId}</c>, the
/// stream and entry of one request id, expiring with the retention, for <c>GET /admin/requests/{requestId}</c>.
/// Filters are applied while reading newest first, so a filtered page may come back short with a cursor to go on.
/// </summary>
internal sealed class RedisRequestLogStore(IConnectionMultiplexer redis, IOptions<GatewayOptions> gateway, IOptions<RequestLogOptions> options) : IRequestLogStore
{
    private const int ScanBudget = 5_000;
    private readonly string _prefix = gateway.Value.Store.RedisPrefix;

    private IDatabase Db => redis.GetDatabase();

    public async Task AppendAsync(IReadOnlyList<RequestRecord> records, CancellationToken cancellationToken)
    {
        var db = Db;
        var max = options.Value.MaxPerOrg;
        var ttl = options.Value.Retention;
        var adds = new Task<RedisValue>[records.Count];
        for (var i = 0; i < records.Count; i++)
        {
            // Approximate: Redis trims whole nodes, far cheaper than an exact MAXLEN on every entry; TrimAsync
            // brings each stream to the exact cap.
            adds[i] = db.StreamAddAsync(Stream(records[i].OrgId), Fields(records[i]), maxLength: max, useApproximateMaxLength: true);
        }

        var ids = await Task.WhenAll(adds);
        var sets = new Task[records.Count];
        for (var i = 0; i < records.Count; i++)
        {
            sets[i] = db.StringSetAsync(IdKey(records[i].RequestId), (records[i].OrgId ?? "") + "\n" + ids[i], ttl);
        }

        await Task.WhenAll(sets);
    }

    public async Task TrimAsync(IReadOnlyCollection<string?> orgs, DateTimeOffset olderThan, int maxPerOrg, CancellationToken cancellationToken)
    {
        var db = Db;
        var minId = olderThan.ToUnixTimeMilliseconds().ToString(CultureInfo.InvariantCulture) + "-0";
        await Task.WhenAll(orgs.SelectMany(org => new[]
        {
            db.ExecuteAsync("XTRIM", Stream(org), "MINID", minId),
            db.ExecuteAsync("XTRIM", Stream(org), "MAXLEN", maxPerOrg),
        }));
    }

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

        var db = Db;
        var key = Stream(query.OrgId);
        var items = new List<(string Id, RequestRecord Record)>();
        var scanned = 0;
        string? lastScanned = null;
        var exhausted = false;
        while (items.Count <= query.Limit && scanned < ScanBudget)
        {
            var batch = await db.StreamRangeAsync(key, "-", max, count: 200, messageOrder: Order.Descending);
            if (batch.Length == 0)
            {
                exhausted = true;
                break;
            }

            foreach (var entry in batch)
            {
                scanned++;
                lastScanned = entry.Id!;
                var record = Read(query.OrgId, entry);
                if (record.Time < query.NotBefore || (query.From is { } from && record.Time < from))
                {
                    // Newest first: everything further is older still.
                    exhausted = true;
                    break;
                }

                if (Matches(record, query))
                {
                    items.Add((entry.Id!, record));
                    if (items.Count > query.Limit)
                    {
                        break;
                    }
                }
            }

            if (exhausted || items.Count > query.Limit)
            {
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

    public async Task<RequestRecord?> FindAsync(string requestId, DateTimeOffset notBefore, CancellationToken cancellationToken)
    {
        var db = Db;
        var pointer = (string?)await db.StringGetAsync(IdKey(requestId));
        if (pointer is null || pointer.IndexOf('\n', StringComparison.Ordinal) is var split && split < 0)
        {
            return null;
        }

        var org = pointer[..split] is { Length: > 0 } o ? o : null;
        var id = pointer[(split + 1)..];
        var entries = await db.StreamRangeAsync(Stream(org), id, id, count: 1);
        if (entries.Length == 0)
        {
            return null;
        }

        var record = Read(org, entries[0]);
        return record.Time < notBefore ? null : record;
    }

    private RedisKey Stream(string? org) => _prefix + "reqlog:{" + (org ?? "") + "}";

    private RedisKey IdKey(string requestId) => _prefix + "reqlog-id:{" + requestId + "}";

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

    private static NameValueEntry[] Fields(RequestRecord r)
    {
        var fields = new List<NameValueEntry>(13)
        {
            new("t", r.Time.ToUnixTimeMilliseconds()),
            new("r", r.RequestId),
            new("m", r.Method),
            new("p", r.Path),
            new("s", r.Status),
            new("d", r.DurationMs.ToString("R", CultureInfo.InvariantCulture)),
        };
        Add(fields, "k", r.KeyId);
        Add(fields, "c", r.CustomerId);
        Add(fields, "ro", r.Route);
        Add(fields, "co", r.Code);
        Add(fields, "ip", r.ClientIp);
        if (r.UpstreamStatus is { } upstream)
        {
            fields.Add(new("u", upstream));
        }

        return fields.ToArray();

        static void Add(List<NameValueEntry> fields, string name, string? value)
        {
            if (value is not null)
            {
                fields.Add(new(name, value));
            }
        }
    }

    private static RequestRecord Read(string? org, StreamEntry entry)
    {
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
