using System.Net;
using Gateway.Configuration;
using Gateway.Http;
using Gateway.RateLimiting;
using Gateway.Stores.Redis;
using Gateway.Tests.Common;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace Gateway.Tests.RateLimiting;

/// <summary>
/// IP permits that the Redis counter let in under its per-instance guard and charges in the background
/// (unmatched paths, leaked-key reports, the admin API): each is charged in Redis, however many arrive at
/// once, and counts as used from the moment the request is in, so X-RateLimit-Remaining is never one too
/// many while the charge is under way.
/// </summary>
[NonParallelizable]
public sealed class DeferredIpSettleTests
{
    private static readonly TimeSpan Minute = TimeSpan.FromMinutes(1);

    [Test]
    public void Lease_SeedNotYetCharged_CountsAsUsed()
    {
        var lease = new RedisLease(LimitSpec.ForIp(1, 5, Minute), "k");
        var now = RedisLease.NowMs;

        // Redis granted 2 of 5 (so 3 left); one request let in meanwhile waits to be charged as a seed.
        lease.Apply(now, want: 2, granted: 2, left: 3, bucket: 0, bucketMs: 60_000, redisNow: 0, reset: 60_000, wait: 0);
        lease.Seed = 1;

        LimitState taken = default;
        lease.Take(now, ref taken);
        Assert.That(taken.Remaining, Is.EqualTo(3), "3 left in Redis, 1 at hand, 1 seed owed");

        lease.Seed = 0;
        LimitState peeked = default;
        lease.Peek(now, ref peeked);
        Assert.That(peeked.Remaining, Is.EqualTo(4));
    }

    [Test]
    public async Task Redis_RequestsSettledInTheBackground_RemainingCountsDownByOne_AndRedisChargedForEach()
    {
        using var redis = RedisServer.Start();
        var options = new GatewayOptions();
        options.Store.Redis = redis.ConnectionString;
        options.Store.RedisPrefix = $"t{Guid.NewGuid():N}:";
        using var connection = await StackExchange.Redis.ConnectionMultiplexer.ConnectAsync(redis.ConnectionString);
        var store = new RedisSharedLimitStore(connection, Options.Create(options));
        var local = new LocalRateLimitCounter(TimeProvider.System);
        using var counter = new RedisRateLimitCounter(store, local, Options.Create(options), NullLogger<RedisRateLimitCounter>.Instance);

        const int Limit = 40;
        var spec = LimitSpec.ForIp(IpGroups.Group(IPAddress.Parse("192.0.2.7"), 64), Limit, Minute);
        for (var i = 0; i < Limit; i++)
        {
            // As IpLimitGate does: take, settle a deferred permit at once, report the state.
            var batch = new LimitBatch();
            batch.Add(spec);
            var decision = counter.AcquireIp(batch);
            Assert.That(decision, Is.Not.EqualTo(IpDecision.Refused), $"request {i}");
            if (decision == IpDecision.Deferred)
            {
                counter.SettleDeferredIp(batch);
            }

            Assert.That(batch.State(LimitSlot.Ip).Remaining, Is.EqualTo(Limit - 1 - i), $"request {i}");
        }

        // A trip may also have brought a permit nobody used: it goes back to Redis once its bucket (a second) ends.
        var key = store.PartitionKey(spec.PartitionText(), (long)spec.Window.TotalMilliseconds);
        var deadline = DateTime.UtcNow.AddSeconds(10);
        int left;
        while ((left = (await store.LeaseAsync(key, Limit, (long)Minute.TotalMilliseconds, 0, 0, 0, 0)).Left) != 0 && DateTime.UtcNow < deadline)
        {
            await Task.Delay(20);
        }

        Assert.That(left, Is.Zero, "every request let in is charged in Redis");

        var over = new LimitBatch();
        over.Add(spec);
        Assert.That(counter.AcquireIp(over), Is.EqualTo(IpDecision.Refused));
    }
}
