using Gateway.Configuration;
using Gateway.Usage;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;

namespace Gateway.Tests.Usage;

/// <summary>
/// What the flusher keeps for the next flush when the store fails: everything when nothing was written, only the
/// unwritten part when the store says it wrote the rest (Redis writes a large batch in parts). The store here is a
/// stand-in that fails on cue; the Redis store's parts are tested against a real Redis in UsageApiTests.
/// </summary>
[TestFixture]
public sealed class UsageFlusherTests
{
    private static readonly DateTimeOffset Start = new(2026, 12, 2, 10, 0, 30, TimeSpan.Zero);

    [Test]
    public async Task Flush_StoreWroteAPartThenFailed_OnlyTheRestIsWrittenAgain()
    {
        var counters = new UsageCounters(new FakeTimeProvider(Start));
        var store = new PartsStore { FailAfter = 2 };
        var flusher = new UsageFlusher(counters, store, Options.Create(new GatewayOptions()), new FakeTimeProvider(Start), NullLogger<UsageFlusher>.Instance);
        for (var i = 0; i < 5; i++)
        {
            counters.Add(UsageSubjectKind.Key, "key_" + i, "org_1", UsageOutcomes.AllowedIndex, count: i + 1);
        }

        await flusher.FlushAsync(CancellationToken.None);
        Assert.That(store.Written.Values.Sum(), Is.EqualTo(1 + 2), "the part written before the failure");

        store.FailAfter = null;
        await flusher.FlushAsync(CancellationToken.None);
        Assert.That(store.Written, Is.EquivalentTo(Enumerable.Range(0, 5).ToDictionary(i => "key_" + i, i => (long)(i + 1))), "each count written once");
    }

    [Test]
    public async Task Flush_StoreFailedOutright_EverythingIsWrittenNextTime()
    {
        var counters = new UsageCounters(new FakeTimeProvider(Start));
        var store = new PartsStore { FailAfter = 0 };
        var flusher = new UsageFlusher(counters, store, Options.Create(new GatewayOptions()), new FakeTimeProvider(Start), NullLogger<UsageFlusher>.Instance);
        counters.Add(UsageSubjectKind.Key, "key_a", "org_1", UsageOutcomes.AllowedIndex, count: 3);

        await flusher.FlushAsync(CancellationToken.None);
        store.FailAfter = null;
        await flusher.FlushAsync(CancellationToken.None);

        Assert.That(store.Written, Is.EquivalentTo(new Dictionary<string, long> { ["key_a"] = 3 }));
    }

    /// <summary>Writes records in order and, when told, fails after that many as a store writing in parts reports it.</summary>
    private sealed class PartsStore : IUsageStore
    {
        public int? FailAfter { get; set; }

        public Dictionary<string, long> Written { get; } = [];

        public Task AddAsync(IReadOnlyList<UsageRecord> batch, CancellationToken cancellationToken)
        {
            var ordered = batch.OrderBy(r => r.Subject, StringComparer.Ordinal).ToList();
            var take = FailAfter ?? ordered.Count;
            foreach (var record in ordered.Take(take))
            {
                Written[record.Subject] = Written.GetValueOrDefault(record.Subject) + record.Counts.Sum();
            }

            return FailAfter switch
            {
                null => Task.CompletedTask,
                0 => throw new InvalidOperationException("store down"),
                _ => throw new UsagePartlyWrittenException(ordered.Skip(take).ToList(), new InvalidOperationException("store down")),
            };
        }

        public Task<IReadOnlyList<UsageRow>> ReadAsync(UsageSubjectKind kind, IReadOnlyCollection<string>? subjects, DateTimeOffset since, DateTimeOffset until, CancellationToken cancellationToken) =>
            throw new NotSupportedException();

        public Task CompactAsync(DateTimeOffset rollUpBefore, DateTimeOffset deleteBefore, CancellationToken cancellationToken) => Task.CompletedTask;
    }
}
