using Gateway.RateLimiting;

namespace Gateway.Tests.RateLimiting;

/// <summary>
/// How a Redis lease sizes its next request from what the last one used, on its own clock (ms) and Redis's
/// answers as the lease script gives them (1 s buckets, Redis at bucket 100 when the first call is sent).
/// </summary>
public sealed class RedisLeaseSizingTests
{
    private const long BucketMs = 1000;

    [Test]
    public void ChargedAhead_RanOutEarly_NextLeaseSizedFromEverythingTakenSinceTheLastFullLease()
    {
        var lease = new RedisLease(LimitSpec.ForWorkspace("acme", 1_000_000, TimeSpan.FromMinutes(1)), "k");

        // One permit charged four buckets ahead, valid until bucket 104 ends: 5 s on this clock.
        Assert.That(lease.PrepareRefill(0).Want, Is.EqualTo(1));
        Apply(lease, sent: 0, granted: 1, bucket: 104, redisNowMs: 100_000);
        Take(lease, 1_000);

        // Ran out inside it: twice as much, charged to a later bucket (Redis's clock moved on).
        Assert.That(lease.PrepareRefill(2_000).Want, Is.EqualTo(2));
        Apply(lease, sent: 2_000, granted: 2, bucket: 106, redisNowMs: 102_000);
        Take(lease, 3_000);
        Take(lease, 4_000);

        // Ran to its end (bucket 106 ended at 7 s): the next lease asks for all three taken since the first trip,
        // not the two taken since the second one moved the lease to another bucket.
        Assert.That(lease.CanTake(7_000), Is.False);
        Assert.That(lease.PrepareRefill(7_000).Want, Is.EqualTo(3));
        Apply(lease, sent: 7_000, granted: 3, bucket: 111, redisNowMs: 107_000);
        Take(lease, 8_000);

        // A lease that ran to its end starts the count again.
        Assert.That(lease.PrepareRefill(13_000).Want, Is.EqualTo(1));
    }

    private static void Apply(RedisLease lease, long sent, int granted, long bucket, long redisNowMs) =>
        lease.Apply(sent, granted, granted, 1_000_000, bucket, BucketMs, redisNowMs, 60_000, 0);

    private static void Take(RedisLease lease, long now)
    {
        Assert.That(lease.CanTake(now), Is.True, $"a permit at hand at {now} ms");
        LimitState state = default;
        lease.Take(now, ref state);
    }
}
