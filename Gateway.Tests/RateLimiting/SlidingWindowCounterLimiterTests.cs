using System.Threading.RateLimiting;
using Gateway.RateLimiting;
using Microsoft.Extensions.Time.Testing;

namespace Gateway.Tests.RateLimiting;

public sealed class SlidingWindowCounterLimiterTests
{
    [Test]
    public void AttemptAcquire_FivePerTwoSeconds_SixthRefusedUntilTheFirstLeavesTheWindow()
    {
        var time = new FakeTimeProvider(new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero));
        using var limiter = new SlidingWindowCounterLimiter(5, TimeSpan.FromSeconds(2), time);

        using (var first = limiter.AttemptAcquire())
        {
            Assert.That(first.IsAcquired, Is.True);
        }

        time.Advance(TimeSpan.FromSeconds(1));
        for (var i = 0; i < 4; i++)
        {
            using var lease = limiter.AttemptAcquire();
            Assert.That(lease.IsAcquired, Is.True);
            Assert.That(SlidingWindowCounterLimiter.Read(lease).Remaining, Is.EqualTo(3 - i));
        }

        using (var refused = limiter.AttemptAcquire())
        {
            Assert.That(refused.IsAcquired, Is.False);
            Assert.That(refused.TryGetMetadata(MetadataName.RetryAfter, out var retry), Is.True);
            // The first request (t=0) is released one bucket (2 s / 60) after it leaves the window.
            Assert.That((TimeSpan)retry!, Is.InRange(TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(1) + TimeSpan.FromTicks(TimeSpan.FromSeconds(2).Ticks / 60)));
        }

        time.Advance(TimeSpan.FromSeconds(1));
        using (var stillRefused = limiter.AttemptAcquire())
        {
            Assert.That(stillRefused.IsAcquired, Is.False, "exactly at the window edge the first request still counts");
        }

        time.Advance(TimeSpan.FromMilliseconds(40));
        using (var allowed = limiter.AttemptAcquire())
        {
            Assert.That(allowed.IsAcquired, Is.True);
        }

        using (var refusedAgain = limiter.AttemptAcquire())
        {
            Assert.That(refusedAgain.IsAcquired, Is.False, "only the first request's permit came back");
        }

        time.Advance(TimeSpan.FromSeconds(1));
        Assert.That(limiter.GetStatistics()!.CurrentAvailablePermits, Is.EqualTo(4));
    }

    [Test]
    public void AttemptAcquire_ZeroPermits_PeeksWithoutCharging()
    {
        var time = new FakeTimeProvider();
        using var limiter = new SlidingWindowCounterLimiter(2, TimeSpan.FromSeconds(10), time);

        for (var i = 0; i < 10; i++)
        {
            using var peek = limiter.AttemptAcquire(0);
            Assert.That(peek.IsAcquired, Is.True);
        }

        Assert.That(limiter.GetStatistics()!.CurrentAvailablePermits, Is.EqualTo(2));
    }

    [Test]
    public async Task LocalCounter_RefusedByOneLimit_ChargesNoneOfTheOthers()
    {
        var time = new FakeTimeProvider();
        using var counter = new LocalRateLimitCounter(time);
        var wide = new LimitSpec(LimitSpec.Workspace, "ws:a", 10, TimeSpan.FromSeconds(10));
        var narrow = new LimitSpec(LimitSpec.Key, "key:k", 2, TimeSpan.FromSeconds(10));

        Assert.That((await counter.AcquireAsync([wide, narrow], default)).Allowed, Is.True);
        Assert.That((await counter.AcquireAsync([wide, narrow], default)).Allowed, Is.True);
        for (var i = 0; i < 5; i++)
        {
            var refused = await counter.AcquireAsync([wide, narrow], default);
            Assert.That(refused.Allowed, Is.False);
            Assert.That(refused.Rejected!.Value.Spec.Kind, Is.EqualTo(LimitSpec.Key));
        }

        var peek = await counter.PeekAsync([wide], default);
        Assert.That(peek.States[0].Remaining, Is.EqualTo(8), "refused requests consumed nothing of the workspace limit");
    }
}
