using System.Globalization;
using Gateway.RateLimiting;

namespace Gateway.Tests.RateLimiting;

/// <summary>X-RateLimit-Limit values come from a small cache of formatted numbers; every value must still read back as itself.</summary>
[TestFixture]
public sealed class RateLimitHeaderTextTests
{
    [Test]
    public void LimitText_ManyLimitsInterleaved_EachTheDecimalOfItsValue()
    {
        // More distinct values than slots, revisited in another order, so slots are shared and replaced.
        var values = new[] { 0, 1, 999, 1023, 1024, 1025, 4096, 10_000, 60_000, 1_000_000, 1_000_000_000, int.MaxValue }
            .Concat(Enumerable.Range(0, 200).Select(i => 1024 + (i * 7919)))
            .ToArray();

        foreach (var value in values.Concat(values.Reverse()).Concat(values))
        {
            Assert.That(RateLimitNumberText.Limit(value), Is.EqualTo(value.ToString(CultureInfo.InvariantCulture)));
        }
    }

    [Test]
    public void LimitText_SameLargeLimit_SameString()
    {
        var first = RateLimitNumberText.Limit(1_000_000);
        var second = RateLimitNumberText.Limit(1_000_000);

        Assert.That(second, Is.SameAs(first));
    }
}
