using CsCheck;
using Gateway.RateLimiting;

namespace Gateway.Tests.RateLimiting;

/// <summary>
/// <see cref="SlidingWindow"/> (a lone bucket kept inline, a scan that skips what is known empty) answers
/// exactly as the plain one-int-per-bucket window did, for any sequence of charges, releases, reads and
/// clock steps (within a bucket, across buckets, past a whole window). Not for a clock stepping back:
/// there the old window's reset times came from older buckets sharing a slot with live ones, and what
/// matters, never counting fewer requests than were charged, holds in both.
/// </summary>
public sealed class SlidingWindowOracleTests
{
    private enum Op
    {
        Charge,
        Release,
        Used,
        ReleaseAfter,
        Step,
    }

    private sealed record Action(Op Op, int Amount, long Ticks, int Ticket);

    [Test]
    public void EveryOperation_AnySequence_SameAnswersAsTheReference()
    {
        var window = TimeSpan.FromSeconds(60);
        var bucket = window.Ticks / SlidingWindow.Buckets;
        var step = Gen.Frequency(
            (4, Gen.Long[0, bucket / 4]),
            (3, Gen.Long[0, bucket * 3]),
            (1, Gen.Long[bucket * 50, bucket * 70]));
        var action = Gen.Frequency(
            (5, Gen.Int[1, 3].Select(n => new Action(Op.Charge, n, 0, 0))),
            (2, Gen.Select(Gen.Int[1, 3], Gen.Int[0, 50], (n, t) => new Action(Op.Release, n, 0, t))),
            (2, Gen.Const(new Action(Op.Used, 0, 0, 0))),
            (3, Gen.Int[1, 12].Select(n => new Action(Op.ReleaseAfter, n, 0, 0))),
            (4, step.Select(t => new Action(Op.Step, 0, t, 0))));
        var origin = Gen.Long[new DateTime(2020, 1, 1).Ticks, new DateTime(2030, 1, 1).Ticks];

        Gen.Select(origin, action.Array[1, 300]).Sample((start, script) =>
        {
            var subject = new SlidingWindow(10, window);
            var reference = new ReferenceSlidingWindow(10, window);
            var tickets = new List<long>();
            var now = start;
            foreach (var a in script)
            {
                switch (a.Op)
                {
                    case Op.Step:
                        now += a.Ticks;
                        break;
                    case Op.Charge:
                        var ticket = subject.Charge(now, a.Amount);
                        Assert.That(ticket, Is.EqualTo(reference.Charge(now, a.Amount)));
                        tickets.Add(ticket);
                        break;
                    case Op.Release when tickets.Count > 0:
                        var old = tickets[a.Ticket % tickets.Count];
                        subject.Release(old, a.Amount);
                        reference.Release(old, a.Amount);
                        break;
                    case Op.Used:
                        Assert.That(subject.Used(now), Is.EqualTo(reference.Used(now)), "Used");
                        break;
                    case Op.ReleaseAfter:
                        Assert.That(subject.ReleaseAfter(now, a.Amount), Is.EqualTo(reference.ReleaseAfter(now, a.Amount)), "ReleaseAfter");
                        break;
                }
            }

            Assert.That(subject.Used(now), Is.EqualTo(reference.Used(now)), "Used at the end");
        }, iter: 3000);
    }
}
