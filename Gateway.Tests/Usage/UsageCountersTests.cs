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

    private static long Allowed(IEnumerable<UsageRecord> records, string subject) =>
        records.Where(r => r.Subject == subject).Sum(r => r.Counts[UsageOutcomes.AllowedIndex]);
}
