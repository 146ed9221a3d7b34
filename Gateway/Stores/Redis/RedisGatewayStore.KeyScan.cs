using System.Runtime.CompilerServices;
using Gateway.Domain;
using StackExchange.Redis;

namespace Gateway.Stores.Redis;

internal sealed partial class RedisGatewayStore : IKeyScan
{
    /// <summary>Commands sent together per round trip: the organizations' key sets, last uses, records.</summary>
    private const int ScanPage = 500;

    public async IAsyncEnumerable<ApiKeyRecord> ReadUsableKeysAsync(DateTimeOffset now, int max, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        // The organizations' key sets name every key without a SCAN over the whole keyspace, and the last uses come
        // from one hash, so the records are read in order of use and only as many as are taken.
        var db = Db;
        var orgs = await RedisCalls.Guard(() => db.SetMembersAsync(_keys.Orgs), cancellationToken);
        var keys = new List<(string Id, RedisValue Used)>();
        foreach (var chunk in orgs.Chunk(ScanPage))
        {
            var sets = await RedisCalls.Guard(() => Task.WhenAll(chunk.Select(org => db.SetMembersAsync(_keys.OrgKeys(org!)))), cancellationToken);
            foreach (var ids in sets.SelectMany(set => set).Chunk(ScanPage))
            {
                var used = await RedisCalls.Guard(() => db.HashGetAsync(_keys.Usage, ids), cancellationToken);
                for (var i = 0; i < ids.Length; i++)
                {
                    keys.Add(((string)ids[i]!, used[i]));
                }
            }
        }

        keys.Sort(static (x, y) =>
        {
            var byUse = LastUse(y.Used).CompareTo(LastUse(x.Used));
            return byUse != 0 ? byUse : string.CompareOrdinal(x.Id, y.Id);
        });

        var taken = 0;
        foreach (var page in keys.Chunk(ScanPage))
        {
            var records = await RedisCalls.Guard(() => Task.WhenAll(page.Select(key => db.HashGetAsync(_keys.Key(key.Id), "json"))), cancellationToken);
            for (var i = 0; i < page.Length; i++)
            {
                if (Read(records[i], page[i].Used) is { } record && record.StatusAt(now) == KeyStatus.Active)
                {
                    yield return record;
                    if (++taken == max)
                    {
                        yield break;
                    }
                }
            }
        }
    }

    // What the usage script wrote: Unix milliseconds; a key never used has none and comes last.
    private static long LastUse(RedisValue used) => used.IsNull ? long.MinValue : (long)used;
}
