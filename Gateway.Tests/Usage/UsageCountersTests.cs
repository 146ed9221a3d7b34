using Gateway.Http;
using Gateway.Usage;
using Microsoft.Extensions.Time.Testing;

namespace Gateway.Tests.Usage;

/// <summary>
/// The counters remember, per thread, the bucket they counted into last. These cases are the ones a
/// remembered bucket could get wrong: another subject, another minute, another set of counters.
/// </summary>
[TestFixture]
public sealed class UsageCountersTests
{
    private static readonly DateTimeOffset Start = new(2026, 12, 2, 10, 0, 30, TimeSpan.Zero);

    [Test]
    public void Add_AlternatingSubjects_EachCountedUnderItsOwn()
    {
        var counters = new UsageCounters(new FakeTimeProvider(Start));
        for (var i = 0; i < 5; i++)
        {
            counters.Add(UsageSubjectKind.Key, "key_a", "org_1", UsageOutcomes.AllowedIndex);
            counters.Add(UsageSubjectKind.Key, "key_b", "org_1", UsageOutcomes.AllowedIndex);
            counters.Add(UsageSubjectKind.Key, "key_a", "org_1", UsageOutcomes.AllowedIndex);
        }

        var drained = counters.Drain();

        Assert.That(Allowed(drained, "key_a"), Is.EqualTo(10));
        Assert.That(Allowed(drained, "key_b"), Is.EqualTo(5));
    }

    [Test]
    public void Add_NextMinute_CountedInANewBucket()
    {
        var time = new FakeTimeProvider(Start);
        var counters = new UsageCounters(time);
        counters.Add(UsageSubjectKind.Key, "key_a", "org_1", UsageOutcomes.AllowedIndex);
        counters.Add(UsageSubjectKind.Key, "key_a", "org_1", UsageOutcomes.AllowedIndex);
        time.Advance(TimeSpan.FromMinutes(1));
        counters.Add(UsageSubjectKind.Key, "key_a", "org_1", UsageOutcomes.AllowedIndex);

        var drained = counters.Drain().OrderBy(r => r.Start).ToList();

        Assert.That(drained.Select(r => (r.Start, r.Counts[UsageOutcomes.AllowedIndex])), Is.EqualTo(new[]
        {
            (new DateTimeOffset(2026, 12, 2, 10, 0, 0, TimeSpan.Zero), 2L),
            (new DateTimeOffset(2026, 12, 2, 10, 1, 0, TimeSpan.Zero), 1L),
        }));
    }

    [Test]
    public void Drain_SameHourWithinTenMinutesOfAFullWrite_Continued_ThenInFullAgain_AndRestoredNeverIs()
    {
        var time = new FakeTimeProvider(Start);
        var counters = new UsageCounters(time);
        bool NextContinued()
        {
            counters.Add(UsageSubjectKind.Key, "key_a", "org_1", UsageOutcomes.AllowedIndex);
            return counters.Drain().Single().Continued;
        }

        Assert.That(NextContinued(), Is.False, "the subject's first record (10:00)");

        counters.Add(UsageSubjectKind.Key, "key_a", "org_1", UsageOutcomes.AllowedIndex);
        counters.Add(UsageSubjectKind.Key, "key_a", "org_1", UsageOutcomes.IndexOf(ProblemCodes.RateLimited.Code));
        var second = counters.Drain().Single();
        Assert.That((second.Continued, second.Counts[UsageOutcomes.AllowedIndex]), Is.EqualTo((true, 1L)), "the same minute again");

        foreach (var (minutes, continued, when) in new (int, bool, string)[]
        {
            (1, true, "10:01, in the other slot"),
            (1, true, "10:02, a slot taken for a new minute"),
            (7, true, "10:09"),
            (1, false, "10:10, ten minutes after the last full write"),
            (1, true, "10:11"),
            (48, false, "10:59"),
            (1, false, "11:00, a new hour (a new hash on Redis)"),
        })
        {
            time.Advance(TimeSpan.FromMinutes(minutes));
            Assert.That(NextContinued(), Is.EqualTo(continued), when);
        }

        // A batch the store refused comes back as leftovers: written again in full, whatever it was.
        counters.Add(UsageSubjectKind.Key, "key_a", "org_1", UsageOutcomes.AllowedIndex);
        var refused = counters.Drain();
        Assert.That(refused.Single().Continued, Is.True);
        counters.Restore(refused);
        counters.Add(UsageSubjectKind.Key, "key_a", "org_1", UsageOutcomes.AllowedIndex);
        var retried = counters.Drain();
        Assert.That(retried.Select(r => (r.Continued, r.Counts[UsageOutcomes.AllowedIndex])), Is.EquivalentTo(new[] { (false, 1L), (true, 1L) }));
    }

    [Test]
    public void Add_TwoCountersOnOneThread_KeepTheirOwnCounts()
    {
        var first = new UsageCounters(new FakeTimeProvider(Start));
        var second = new UsageCounters(new FakeTimeProvider(Start));

        first.Add(UsageSubjectKind.Key, "key_a", "org_1", UsageOutcomes.AllowedIndex);
        second.Add(UsageSubjectKind.Key, "key_a", "org_1", UsageOutcomes.AllowedIndex);
        first.Add(UsageSubjectKind.Key, "key_a", "org_1", UsageOutcomes.AllowedIndex);

        Assert.That(Allowed(first.Drain(), "key_a"), Is.EqualTo(2));
        Assert.That(Allowed(second.Drain(), "key_a"), Is.EqualTo(1));
    }

    [Test]
    public void Add_AfterDrain_CountsTheNextBatch()
    {
        var counters = new UsageCounters(new FakeTimeProvider(Start));
        counters.Add(UsageSubjectKind.Key, "key_a", "org_1", UsageOutcomes.AllowedIndex);
        Assert.That(Allowed(counters.Drain(), "key_a"), Is.EqualTo(1));

        counters.Add(UsageSubjectKind.Key, "key_a", "org_1", UsageOutcomes.AllowedIndex);
        counters.Add(UsageSubjectKind.Key, "key_a", "org_1", UsageOutcomes.AllowedIndex);

        Assert.That(Allowed(counters.Drain(), "key_a"), Is.EqualTo(2));
    }

    [Test]
    public async Task Add_FromManyThreads_NothingLost()
    {
        var counters = new UsageCounters(new FakeTimeProvider(Start));
        const int PerTask = 10_000;
        var tasks = Enumerable.Range(0, 8).Select(i => Task.Run(() =>
        {
            for (var n = 0; n < PerTask; n++)
            {
                counters.Add(UsageSubjectKind.Key, i % 2 == 0 ? "key_a" : "key_b", "org_1", UsageOutcomes.AllowedIndex);
            }
        }));
        await Task.WhenAll(tasks);

        var drained = counters.Drain();

        Assert.That(Allowed(drained, "key_a") + Allowed(drained, "key_b"), Is.EqualTo(8 * PerTask));
    }

    [Test]
    public async Task Drain_WhileThreadsCount_EveryCountDrainedExactlyOnce()
    {
        // A drain takes only the buckets queued by their first count since the last drain; a count landing
        // while its bucket is being drained must be taken by this drain or queue the bucket for the next.
        var counters = new UsageCounters(new FakeTimeProvider(Start));
        const int PerTask = 200_000;
        var subjects = new[] { "key_a", "key_b" };
        var adders = Enumerable.Range(0, 3).Select(t => Task.Run(() =>
        {
            for (var n = 0; n < PerTask; n++)
            {
                counters.Add(UsageSubjectKind.Key, subjects[(n + t) % subjects.Length], "org_1", UsageOutcomes.AllowedIndex);
            }
        })).ToArray();

        long drained = 0;
        var drains = 0;
        while (!adders.All(a => a.IsCompleted))
        {
            drained += counters.Drain().Sum(r => r.Counts[UsageOutcomes.AllowedIndex]);
            drains++;
        }

        await Task.WhenAll(adders);
        drained += counters.Drain().Sum(r => r.Counts[UsageOutcomes.AllowedIndex]);

        Assert.That(drained, Is.EqualTo(3L * PerTask), $"over {drains} drains");
        Assert.That(counters.Drain(), Is.Empty, "nothing counted since: nothing to take");
    }

    [Test]
    public async Task Add_WhileMinutesPassAndIdleSubjectsAreDropped_EveryCountDrainedOnce()
    {
        // Minutes pass quickly while three threads count and a fourth drains: slots are taken for new minutes,
        // and subjects that sit out a few minutes are dropped and made again, all while counts land.
        var time = new FakeTimeProvider(Start);
        var counters = new UsageCounters(time);
        const int PerTask = 150_000;
        var subjects = new[] { "key_a", "key_b", "key_c", "key_d" };
        var counted = new long[3];
        var adders = Enumerable.Range(0, 3).Select(t => Task.Run(() =>
        {
            for (var n = 0; n < PerTask; n++)
            {
                // key_c and key_d are only counted in some stretches of minutes, so they go idle and are dropped.
                var minute = time.GetUtcNow().UtcTicks / TimeSpan.TicksPerMinute;
                var subject = subjects[(minute / 4 % 2 == 0 ? 0 : 2) + ((n + t) % 2)];
                counters.Add(UsageSubjectKind.Key, subject, "org_1", UsageOutcomes.AllowedIndex);
                counted[t]++;
                if (n % 500 == 0)
                {
                    time.Advance(TimeSpan.FromSeconds(20));
                }
            }
        })).ToArray();

        var drained = new List<UsageRecord>();
        while (!adders.All(a => a.IsCompleted))
        {
            drained.AddRange(counters.Drain());
        }

        await Task.WhenAll(adders);
        drained.AddRange(counters.Drain());

        Assert.That(drained.Sum(r => r.Counts[UsageOutcomes.AllowedIndex]), Is.EqualTo(counted.Sum()));
        Assert.That(drained.Sum(r => r.Counts.Sum()), Is.EqualTo(counted.Sum()), "nothing under another outcome");
        Assert.That(drained.Select(r => r.Subject).Distinct().Order(), Is.EqualTo(subjects));
        Assert.That(drained.Select(r => r.Start).Distinct().Count(), Is.GreaterThan(100), "minutes passed while counting");
    }

    [Test]
    public void Drain_SubjectsIdleForMoreThanTwoMinutes_Dropped()
    {
        var time = new FakeTimeProvider(Start);
        var counters = new UsageCounters(time);
        counters.Add(UsageSubjectKind.Key, "key_a", "org_1", UsageOutcomes.AllowedIndex);
        counters.Add(UsageSubjectKind.Key, "key_b", "org_1", UsageOutcomes.AllowedIndex);
        counters.Drain();
        Assert.That(counters.SubjectCount, Is.EqualTo(2));

        // Two minutes on, a request could still be counting into their minute; three minutes on, none can.
        time.Advance(TimeSpan.FromMinutes(2));
        counters.Add(UsageSubjectKind.Key, "key_a", "org_1", UsageOutcomes.AllowedIndex);
        Assert.That(Allowed(counters.Drain(), "key_a"), Is.EqualTo(1));
        Assert.That(counters.SubjectCount, Is.EqualTo(2));

        time.Advance(TimeSpan.FromMinutes(1));
        Assert.That(counters.Drain(), Is.Empty);
        Assert.That(counters.SubjectCount, Is.EqualTo(1), "only the subject counted two minutes ago is left");

        // A dropped subject counts again from scratch, on this thread's remembered entry or not.
        time.Advance(TimeSpan.FromMinutes(3));
        counters.Drain();
        Assert.That(counters.SubjectCount, Is.Zero);
        counters.Add(UsageSubjectKind.Key, "key_a", "org_1", UsageOutcomes.AllowedIndex);
        counters.Add(UsageSubjectKind.Key, "key_a", "org_1", UsageOutcomes.AllowedIndex);
        Assert.That(counters.SubjectCount, Is.EqualTo(1));
        Assert.That(Allowed(counters.Drain(), "key_a"), Is.EqualTo(2));
    }

    [Test]
    public void Add_SlotOfTheMinuteTwoLaterNotYetDrained_BothMinutesKeptApart()
    {
        // With a flush interval over a minute, a minute's slot is needed again before a drain took it.
        var time = new FakeTimeProvider(Start);
        var counters = new UsageCounters(time);
        counters.Add(UsageSubjectKind.Key, "key_a", "org_1", UsageOutcomes.AllowedIndex);
        counters.Add(UsageSubjectKind.Key, "key_a", "org_1", UsageOutcomes.IndexOf(ProblemCodes.RateLimited.Code));
        time.Advance(TimeSpan.FromMinutes(1));
        counters.Add(UsageSubjectKind.Key, "key_a", "org_1", UsageOutcomes.AllowedIndex);
        time.Advance(TimeSpan.FromMinutes(1));
        counters.Add(UsageSubjectKind.Key, "key_a", "org_1", UsageOutcomes.AllowedIndex);
        counters.Add(UsageSubjectKind.Key, "key_a", "org_1", UsageOutcomes.AllowedIndex);

        Assert.That(counters.Snapshot().Sum(r => r.Counts.Sum()), Is.EqualTo(5), "a snapshot sees the minute set aside too");
        var drained = counters.Drain().OrderBy(r => r.Start).Select(r => (r.Start.Minute, r.Counts[UsageOutcomes.AllowedIndex], r.Counts.Sum())).ToList();

        Assert.That(drained, Is.EqualTo(new[] { (0, 1L, 2L), (1, 1L, 1L), (2, 2L, 2L) }));
        Assert.That(counters.Drain(), Is.Empty);
    }

    [Test]
    public void Add_MinuteOlderThanItsSlotHolds_CountedUnderItsOwnMinute()
    {
        // A clock set back by two minutes: the slot of that minute's parity already holds a later minute.
        var setBack = new SettableTime(Start.AddMinutes(2));
        var counted = new UsageCounters(setBack);
        counted.Add(UsageSubjectKind.Key, "key_a", "org_1", UsageOutcomes.AllowedIndex);
        setBack.Now = Start;
        counted.Add(UsageSubjectKind.Key, "key_a", "org_1", UsageOutcomes.AllowedIndex);

        var drained = counted.Drain().OrderBy(r => r.Start).Select(r => (r.Start.Minute, r.Counts[UsageOutcomes.AllowedIndex])).ToList();
        Assert.That(drained, Is.EqualTo(new[] { (0, 1L), (2, 1L) }));
    }

    [Test]
    public void Restore_BatchTheStoreRefused_TakenByTheNextDrain_WithNewCounts()
    {
        var time = new FakeTimeProvider(Start);
        var counters = new UsageCounters(time);
        counters.Add(UsageSubjectKind.Key, "key_a", "org_1", UsageOutcomes.AllowedIndex);
        var refused = counters.Drain();

        // Restored after its minute's bucket was dropped, and after another count into the same bucket.
        time.Advance(TimeSpan.FromMinutes(5));
        counters.Drain();
        Assert.That(counters.SubjectCount, Is.Zero);
        counters.Restore(refused);
        counters.Restore(refused);

        var again = counters.Drain();
        Assert.That(again, Has.Count.EqualTo(1));
        Assert.That(again[0].Start, Is.EqualTo(new DateTimeOffset(2026, 12, 2, 10, 0, 0, TimeSpan.Zero)));
        Assert.That(Allowed(again, "key_a"), Is.EqualTo(2));
        Assert.That(again[0].Counts, Has.Length.EqualTo(UsageOutcomes.Count), "the records carry the outcomes only");
    }

    /// <summary>A clock that can be set back, which <see cref="FakeTimeProvider"/> refuses.</summary>
    private sealed class SettableTime(DateTimeOffset now) : TimeProvider
    {
        public DateTimeOffset Now { get; set; } = now;

        public override DateTimeOffset GetUtcNow() => Now;
    }

    private static long Allowed(IEnumerable<UsageRecord> records, string subject) =>
        records.Where(r => r.Subject == subject).Sum(r => r.Counts[UsageOutcomes.AllowedIndex]);
}
