using System.Globalization;
using Gateway.Configuration;
using Gateway.Stores;
using Gateway.Stores.Redis;
using Gateway.Tests.Common;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace Gateway.Tests.RateLimiting;

/// <summary>
/// The Redis limiter's lease script, which keeps a running total and walks forward from the oldest bucket, against
/// a model that recounts the whole window on every call (what the script did before): random grants, give-backs,
/// seeds, grants charged ahead and pauses on a real redis-server, each answer and the hash's buckets compared with
/// the model at the Redis time the script reports. A 300 ms window (5 ms buckets) lets buckets leave it, and the key expire, within the test.
/// </summary>
public sealed class RedisLeaseScriptTests
{
    private const long WindowMs = 300;

    [TestCase(1, 5)]
    [TestCase(2, 50)]
    [TestCase(3, 500)]
    [TestCase(4, 5000)]
    public async Task Lease_RandomCalls_AnswersAndBucketsAsARecountOfTheWindow(int seed, int limit)
    {
        using var redis = await ConnectionMultiplexer.ConnectAsync(RedisServer.Shared.ConnectionString);
        var options = Options.Create(new GatewayOptions { Store = { RedisPrefix = $"t{Guid.NewGuid():N}:" } });
        var store = new RedisSharedLimitStore(redis, options);
        var key = store.PartitionKey("key:lease-script", WindowMs);
        var db = redis.GetDatabase();
        var random = new Random(seed);
        var model = new Dictionary<long, long>();
        var seen = new List<long>();

        for (var call = 0; call < 250; call++)
        {
            var want = random.Next(0, 9);
            var (backBucket, back) = seen.Count > 0 && random.NextDouble() < 0.3 ? (seen[random.Next(Math.Max(0, seen.Count - 80), seen.Count)], random.Next(1, 4)) : (0L, 0);
            var charge = random.NextDouble() < 0.05 ? random.Next(1, 11) : 0;
            var ahead = random.NextDouble() < 0.5 ? random.Next(1, 31) : 0;
            if (random.NextDouble() < 0.05)
            {
                // What an instance of the version before the running total does to it: deletes both as long-gone buckets.
                await db.HashDeleteAsync(key, ["-1", "-2"]);
            }

            var lease = await store.LeaseAsync(key, limit, WindowMs, want, backBucket, back, charge, ahead);
            var expected = Model(model, lease.StoreNowMs, limit, want, backBucket, back, charge, ahead);
            seen.Add(lease.Bucket);

            var stored = (await db.HashGetAllAsync(key)).ToDictionary(e => long.Parse((string)e.Name!, CultureInfo.InvariantCulture), e => (long)e.Value);
            if (stored.Count == 0 && model.Count > 0
                && (await redis.GetServers()[0].TimeAsync()).Ticks / TimeSpan.TicksPerMillisecond - DateTime.UnixEpoch.Ticks / TimeSpan.TicksPerMillisecond - lease.StoreNowMs > WindowMs)
            {
                // The machine stalled between the script and this read for longer than the hash lives: Redis let it
                // expire, as it would for an idle partition, and the next call starts afresh. So does the model.
                Assert.That(lease.Granted, Is.EqualTo(expected.Granted), $"call {call}: the grant, before the stall");
                model.Clear();
                continue;
            }

            var total = stored.Remove(-1, out var t) ? t : 0;
            stored.Remove(-2);
            Assert.Multiple(() =>
            {
                Assert.That((lease.Granted, lease.Left, lease.Bucket, lease.BucketMs, lease.ResetMs, lease.WaitMs), Is.EqualTo(expected), $"call {call}: want {want}, back {back} to {backBucket}, seed {charge}, ahead {ahead}");
                Assert.That(stored, Is.EquivalentTo(model), $"call {call}: the buckets held");
                Assert.That(total, Is.EqualTo(model.Values.Sum()), $"call {call}: the running total");
            });

            var pause = random.NextDouble();
            if (pause < 0.03)
            {
                await Task.Delay(TimeSpan.FromMilliseconds(WindowMs + 100)); // past the window and the key's expiry
            }
            else if (pause < 0.4)
            {
                await Task.Delay(TimeSpan.FromMilliseconds(random.Next(1, 30)));
            }
        }
    }

    [Test]
    public async Task Lease_HashFromTheVersionBeforeTheRunningTotal_CountedInFull()
    {
        using var redis = await ConnectionMultiplexer.ConnectAsync(RedisServer.Shared.ConnectionString);
        var options = Options.Create(new GatewayOptions { Store = { RedisPrefix = $"t{Guid.NewGuid():N}:" } });
        var store = new RedisSharedLimitStore(redis, options);
        var key = store.PartitionKey("ws:old-format", 600_000);
        var db = redis.GetDatabase();

        // A 10-minute window (10 s buckets): 7 permits in the current bucket and 2 in an earlier one, as the old script left them.
        var first = await store.LeaseAsync(key, 100, 600_000, 0, 0, 0, 0);
        await db.KeyDeleteAsync(key);
        await db.HashSetAsync(key, [new HashEntry(first.Bucket, 7), new HashEntry(first.Bucket - 3, 2)]);

        var lease = await store.LeaseAsync(key, 10, 600_000, 5, 0, 0, 0);

        Assert.Multiple(() =>
        {
            Assert.That(lease.Granted, Is.EqualTo(1), "10 - 9 counted leaves one, granted singly near the limit");
            Assert.That(lease.Left, Is.Zero);
            Assert.That((long)db.HashGet(key, "-1"), Is.EqualTo(10));
            Assert.That((long)db.HashGet(key, "-2"), Is.EqualTo(first.Bucket - 3), "the oldest bucket");
        });
    }

    // 100, 325 and 493 of 1000 used: four buckets ahead; 593: the current bucket.
    [TestCase(4, new[] { 100, 400, 200, 100 }, new[] { 100, 225, 168, 100 }, new long[] { 4, 4, 4, 0 })]
    // 62 of 1000 used: thirty buckets ahead; 63, 297 and 472: four; 604: the current bucket.
    [TestCase(30, new[] { 62, 1, 400, 400, 400 }, new[] { 62, 1, 234, 175, 132 }, new long[] { 30, 4, 4, 4, 0 })]
    public async Task Lease_Ahead_FarWhileASixteenthIsUsed_FourWhileHalfIsLeft(int ahead, int[] wants, int[] granted, long[] charged)
    {
        using var redis = await ConnectionMultiplexer.ConnectAsync(RedisServer.Shared.ConnectionString);
        var options = Options.Create(new GatewayOptions { Store = { RedisPrefix = $"t{Guid.NewGuid():N}:" } });
        var store = new RedisSharedLimitStore(redis, options);
        var key = store.PartitionKey("ws:ahead", 600_000);

        // A 10-minute window (10 s buckets), so the calls fall in one bucket unless one lands on its edge.
        var grants = new List<LimitLease>();
        foreach (var want in wants)
        {
            grants.Add(await store.LeaseAsync(key, 1000, 600_000, want, 0, 0, 0, ahead));
        }

        var current = grants.Select(g => g.StoreNowMs / g.BucketMs).ToList();
        Assert.Multiple(() =>
        {
            Assert.That(grants.Select(g => g.Granted), Is.EqualTo(granted), "a quarter of what is left at most");
            Assert.That(grants.Select((g, i) => g.Bucket - current[i]), Is.EqualTo(charged), "buckets ahead of the current one");
            Assert.That(grants[^1].ResetMs, Is.EqualTo(((current[^1] + 61) * grants[^1].BucketMs) - grants[^1].StoreNowMs), "the oldest bucket counted is now the current one");
        });
    }

    [Test]
    public async Task Lease_SparseHashPastItsOldestBucket_CountedAfreshNotWalked()
    {
        // A Redis of its own, so the command counts are this test's alone.
        using var server = RedisServer.Start();
        using var redis = await ConnectionMultiplexer.ConnectAsync(server.ConnectionString + ",allowAdmin=true");
        var store = new RedisSharedLimitStore(redis, Options.Create(new GatewayOptions()));
        var key = store.PartitionKey("ws:sparse", 600);

        // A 600 ms window (10 ms buckets): two grants charged 30 buckets ahead, half a window apart, then nothing until
        // the first one's bucket left the window. The hash then holds the second's bucket some 50 buckets later.
        var first = await store.LeaseAsync(key, 1000, 600, 10, 0, 0, 0, ahead: 30);
        Assert.That(first.Bucket - (first.StoreNowMs / first.BucketMs), Is.EqualTo(30));
        await Task.Delay(TimeSpan.FromMilliseconds(500));
        var second = await store.LeaseAsync(key, 1000, 600, 1, 0, 0, 0, ahead: 30);
        Assert.That(second.Bucket - first.Bucket, Is.GreaterThan(40));
        Assume.That(second.Left, Is.EqualTo(1000 - 11), "the first grant still counted at the second (a machine stalled for 400 ms says nothing)");
        await Task.Delay(TimeSpan.FromMilliseconds(second.ResetMs + 20));
        await redis.GetServers()[0].ExecuteAsync("CONFIG", "RESETSTAT");

        var lease = await store.LeaseAsync(key, 1000, 600, 1, 0, 0, 0, ahead: 30);

        var stats = (await redis.GetServers()[0].InfoAsync("commandstats")).SelectMany(g => g).ToDictionary(p => p.Key, p => p.Value);
        long Calls(string command) => stats.TryGetValue("cmdstat_" + command, out var text)
            ? long.Parse(text.Split(',')[0]["calls=".Length..], CultureInfo.InvariantCulture)
            : 0;
        // The hash expires some 490 ms after this call was due: a machine stalled that long would have had it start afresh.
        Assume.That(lease.Left, Is.EqualTo(998), "the first grant left the window, the second is still in it");
        Assert.Multiple(() =>
        {
            Assert.That(lease.Granted, Is.EqualTo(1));
            Assert.That(Calls("hget"), Is.LessThanOrEqualTo(4), "a few steps of the walk, not one per empty bucket up to the one charged ahead");
            Assert.That(Calls("hgetall"), Is.EqualTo(1), "then its fields counted afresh");
        });
    }

    /// <summary>The script before the running total, in C#: every call drops what left the window and recounts the rest.</summary>
    private static (int Granted, int Left, long Bucket, long BucketMs, long Reset, long Wait) Model(
        Dictionary<long, long> buckets, long now, long limit, long want, long backBucket, int back, int seed, int ahead)
    {
        var bms = Math.Max(1, WindowMs / 60);
        var cur = now / bms;
        foreach (var id in buckets.Keys.Where(id => id <= cur - 61).ToList())
        {
            buckets.Remove(id);
        }

        if (back > 0 && buckets.TryGetValue(backBucket, out var held))
        {
            var returned = Math.Min(back, held);
            if (held == returned)
            {
                buckets.Remove(backBucket);
            }
            else
            {
                buckets[backBucket] = held - returned;
            }
        }

        var used = buckets.Values.Sum();
        if (seed > 0)
        {
            used += seed;
            buckets[cur] = buckets.GetValueOrDefault(cur) + seed;
        }

        var free = limit - used;
        var grant = 0L;
        var charged = cur;
        if (want > 0 && free > 0)
        {
            grant = free <= 64 ? 1 : Math.Min(want, free / 4);
            used += grant;
            if (ahead > 0 && limit - used >= 64 && 16 * used <= limit)
            {
                charged = cur + ahead;
            }
            else if (ahead > 0 && limit - used >= 64 && 2 * used <= limit)
            {
                charged = cur + Math.Min(ahead, 4);
            }

            buckets[charged] = buckets.GetValueOrDefault(charged) + grant;
        }

        long reset = 0, wait = 0, released = 0;
        var needed = used - limit + 1;
        foreach (var id in buckets.Keys.Order())
        {
            var leaves = ((id + 61) * bms) - now;
            if (reset == 0)
            {
                reset = leaves;
            }

            released += buckets[id];
            if (needed > 0 && wait == 0 && released >= needed)
            {
                wait = leaves;
            }
        }

        return ((int)grant, (int)(limit - used), charged, bms, reset, wait);
    }
}
