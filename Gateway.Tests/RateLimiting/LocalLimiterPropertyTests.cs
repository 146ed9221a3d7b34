using CsCheck;
using Gateway.RateLimiting;
using Microsoft.Extensions.Time.Testing;

namespace Gateway.Tests.RateLimiting;

/// <summary>
/// The per-instance counter under arbitrary interleavings of acquires and clock steps: no limit ever
/// admits more than its PermitLimit in any window, and a permit comes back once the window has passed.
/// </summary>
public sealed class LocalLimiterPropertyTests
{
    /// <summary>One step: acquire against a subset of the limits, or move the clock.</summary>
    private sealed record Step(bool Acquire, int Mask, long AdvanceTicks);

    [Test]
    public void Acquire_ArbitraryInterleavings_NeverMoreThanLimitInAnyWindow()
    {
        var limits = Gen.Select(Gen.Int[1, 8], Gen.Int[1, 120], (permits, seconds) => (Permits: permits, Window: TimeSpan.FromSeconds(seconds)));
        var step = Gen.Frequency(
            (3, Gen.Int[1, 7].Select(mask => new Step(true, mask, 0))),
            (2, Gen.Select(Gen.Long[0, TimeSpan.TicksPerMillisecond * 3000], Gen.Bool, (small, tiny) => new Step(false, 0, tiny ? small / 1000 : small))),
            (1, Gen.Long[0, TimeSpan.TicksPerSecond * 130].Select(big => new Step(false, 0, big))));

        var start = Gen.Long[new DateTime(2000, 1, 1).Ticks, new DateTime(2100, 1, 1).Ticks].Select(t => new DateTimeOffset(t, TimeSpan.Zero));
        Gen.Select(limits.Array[3], step.Array[1, 400], start).Sample((specs, script, origin) =>
        {
            var time = new FakeTimeProvider(origin);
            var counter = Counter(time);
            var partitions = specs.Select((s, i) => LimitSpec.ForKey($"p{i}", s.Permits, s.Window)).ToArray();
            var admitted = partitions.Select(_ => new List<long>()).ToArray();

            foreach (var s in script)
            {
                if (!s.Acquire)
                {
                    time.Advance(TimeSpan.FromTicks(s.AdvanceTicks));
                    continue;
                }

                var chosen = Enumerable.Range(0, 3).Where(i => (s.Mask & (1 << i)) != 0).ToArray();
                if (TryAcquire(counter, chosen.Select(i => partitions[i]).ToArray()))
                {
                    foreach (var i in chosen)
                    {
                        admitted[i].Add(time.GetUtcNow().UtcTicks);
                    }
                }
            }

            for (var i = 0; i < partitions.Length; i++)
            {
                var times = admitted[i];
                var window = partitions[i].Window.Ticks;
                for (int first = 0, last = 0; last < times.Count; last++)
                {
                    while (times[first] <= times[last] - window)
                    {
                        first++;
                    }

                    Assert.That(last - first + 1, Is.LessThanOrEqualTo(partitions[i].PermitLimit), $"limit {i} admitted too many within one window");
                }
            }

            // Not vacuous: after a quiet window and its last bucket, every limit admits again.
            time.Advance(TimeSpan.FromTicks(specs.Max(s => s.Window.Ticks) * 61 / 60) + TimeSpan.FromTicks(1));
            Assert.That(TryAcquire(counter, partitions), Is.True, "a permit came back after the window");
        }, iter: 500);
    }

    [Test]
    public void Acquire_RefusedByOneLimit_ChargesNoneOfTheOthers()
    {
        Gen.Select(Gen.Int[1, 5], Gen.Int[0, 20]).Sample((tight, extra) =>
        {
            var time = new FakeTimeProvider(DateTimeOffset.UnixEpoch.AddDays(1));
            var counter = Counter(time);
            var roomy = LimitSpec.ForWorkspace("roomy", tight + extra + 1, TimeSpan.FromMinutes(1));
            var narrow = LimitSpec.ForKey("narrow", tight, TimeSpan.FromMinutes(1));

            for (var i = 0; i < tight; i++)
            {
                Assert.That(TryAcquire(counter, [roomy, narrow]), Is.True);
            }

            for (var i = 0; i < extra + 5; i++)
            {
                Assert.That(TryAcquire(counter, [roomy, narrow]), Is.False, "the narrow limit is used up");
            }

            // Every refused attempt left the roomy limit untouched: it still has extra + 1 permits.
            for (var i = 0; i < extra + 1; i++)
            {
                Assert.That(TryAcquire(counter, [roomy]), Is.True);
            }

            Assert.That(TryAcquire(counter, [roomy]), Is.False);
        }, iter: 200);
    }

    private static LocalRateLimitCounter Counter(TimeProvider time) => new(time);

    private static bool TryAcquire(LocalRateLimitCounter counter, LimitSpec[] limits)
    {
        var batch = new LimitBatch();
        foreach (var limit in limits)
        {
            batch.Add(limit);
        }

        return counter.TryAcquire(batch, 0, limits.Length);
    }
}
