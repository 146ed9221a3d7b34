using Gateway.Configuration;
using Gateway.Tests.Common;
using Gateway.Usage;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;

namespace Gateway.Tests.Usage;

/// <summary>
/// What the flusher keeps for the next flush when the store fails: everything when nothing was written, only the
/// unwritten part when the store says it wrote the rest (Redis writes a large batch in parts); and that a report
/// never answers between a flush's drain and its write. The store here is a stand-in that fails or waits on cue;
/// the Redis store's parts are tested against a real Redis in UsageApiTests.
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

    [Test]
    public async Task Report_DuringAFlush_WaitsForItAndCountsTheFlushedRequestsOnce()
    {
        var counters = new UsageCounters(new FakeTimeProvider(Start));
        var store = new PartsStore { Gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously) };
        var flusher = new UsageFlusher(counters, store, Options.Create(new GatewayOptions()), new FakeTimeProvider(Start), NullLogger<UsageFlusher>.Instance);
        var queries = new UsageQueries(store, counters);
        counters.Add(UsageSubjectKind.Key, "key_a", "org_1", UsageOutcomes.AllowedIndex, count: 4);

        var flush = flusher.FlushAsync(CancellationToken.None);
        await store.Entered.Task.WaitAsync(TimeSpan.FromSeconds(10));
        var report = queries.ReadAsync(UsageSubjectKind.Key, ["key_a"], Start.AddHours(-1), Start.AddHours(1), UsageGranularity.Hour, CancellationToken.None);
        // The drained counts are in neither the counters nor the store now; a report answering here would miss them.
        Assert.That(report.IsCompleted, Is.False, "waits for the flush");

        store.Gate.SetResult();
        await flush;
        var totals = (await report.WaitAsync(TimeSpan.FromSeconds(10))).Totals;
        Assert.That(totals.Total, Is.EqualTo(4));

        counters.Add(UsageSubjectKind.Key, "key_a", "org_1", UsageOutcomes.AllowedIndex, count: 1);
        var next = await queries.ReadAsync(UsageSubjectKind.Key, ["key_a"], Start.AddHours(-1), Start.AddHours(1), UsageGranularity.Hour, CancellationToken.None);
        Assert.That(next.Totals.Total, Is.EqualTo(5), "stored plus not yet flushed, each once");
    }

    // The shutdown flush has no next flush to leave counts to: it tries again while the host's shutdown timeout lasts,
    // then says how many requests' counts are lost. The same for every store (a locked SQLite file, Redis down).
    [Test]
    public async Task Shutdown_StoreDownUntilTheShutdownTimeout_AnErrorSaysHowManyRequestsAreLost()
    {
        var counters = new UsageCounters(new FakeTimeProvider(Start));
        var store = new PartsStore { FailAfter = 0 };
        var logs = new CapturingLoggerProvider();
        using var factory = LoggerFactory.Create(b => b.AddProvider(logs));
        var flusher = new UsageFlusher(counters, store, Options.Create(new GatewayOptions()), new FakeTimeProvider(Start), factory.CreateLogger<UsageFlusher>());
        counters.Add(UsageSubjectKind.Key, "key_a", "org_1", UsageOutcomes.AllowedIndex, count: 3);
        counters.Add(UsageSubjectKind.Key, "key_b", "org_1", UsageOutcomes.AllowedIndex, count: 2);
        using var shutdownTimeout = new CancellationTokenSource(TimeSpan.FromMilliseconds(700));

        await flusher.StoppedAsync(shutdownTimeout.Token);

        var lost = logs.Entries.Where(e => e.Level == LogLevel.Error).ToList();
        Assert.That(lost, Has.Count.EqualTo(1), string.Join(Environment.NewLine, logs.Entries.Select(e => e.Text)));
        Assert.That(lost[0].Text, Does.Contain("LostRequests=5").And.Contain("LostRecords=2").And.Contain("InDoubtRequests=0"));
        Assert.That(store.Calls, Is.GreaterThan(1), "tried again");
    }

    [Test]
    public async Task Shutdown_StoreBackBeforeTheShutdownTimeout_EveryCountWritten()
    {
        var counters = new UsageCounters(new FakeTimeProvider(Start));
        var store = new PartsStore { FailAfter = 0, RecoverAfterCalls = 2 };
        var logs = new CapturingLoggerProvider();
        using var factory = LoggerFactory.Create(b => b.AddProvider(logs));
        var flusher = new UsageFlusher(counters, store, Options.Create(new GatewayOptions()), new FakeTimeProvider(Start), factory.CreateLogger<UsageFlusher>());
        counters.Add(UsageSubjectKind.Key, "key_a", "org_1", UsageOutcomes.AllowedIndex, count: 3);
        using var shutdownTimeout = new CancellationTokenSource(TimeSpan.FromSeconds(20));

        await flusher.StoppedAsync(shutdownTimeout.Token);

        Assert.That(store.Written, Is.EquivalentTo(new Dictionary<string, long> { ["key_a"] = 3 }));
        Assert.That(logs.Entries.Where(e => e.Level == LogLevel.Error), Is.Empty);
    }

    /// <summary>Writes records in order and, when told, fails after that many as a store writing in parts reports it.</summary>
    private sealed class PartsStore : IUsageStore
    {
        public int? FailAfter { get; set; }

        public Dictionary<string, long> Written { get; } = [];

        /// <summary>When set, a write waits for it after signalling <see cref="Entered"/>.</summary>
        public TaskCompletionSource? Gate { get; init; }

        public TaskCompletionSource Entered { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        /// <summary>When set, the store stops failing after this many calls (a store that comes back).</summary>
        public int? RecoverAfterCalls { get; init; }

        public int Calls { get; private set; }

        public async Task AddAsync(IReadOnlyList<UsageRecord> batch, CancellationToken cancellationToken)
        {
            if (++Calls > RecoverAfterCalls)
            {
                FailAfter = null;
            }

            if (Gate is not null)
            {
                Entered.TrySetResult();
                await Gate.Task;
            }

            var ordered = batch.OrderBy(r => r.Subject, StringComparer.Ordinal).ToList();
            var take = FailAfter ?? ordered.Count;
            foreach (var record in ordered.Take(take))
            {
                Written[record.Subject] = Written.GetValueOrDefault(record.Subject) + record.Counts.Sum();
            }

            switch (FailAfter)
            {
                case null: return;
                case 0: throw new InvalidOperationException("store down");
                default: throw new UsagePartlyWrittenException(ordered.Skip(take).ToList(), new InvalidOperationException("store down"));
            }
        }

        public Task<IReadOnlyList<UsageRow>> ReadAsync(UsageSubjectKind kind, IReadOnlyCollection<string>? subjects, DateTimeOffset since, DateTimeOffset until, CancellationToken cancellationToken) =>
            Task.FromResult<IReadOnlyList<UsageRow>>(Written.Select(w => new UsageRow(w.Key, Start, "allowed", w.Value)).ToList());

        public Task CompactAsync(DateTimeOffset rollUpBefore, DateTimeOffset deleteBefore, CancellationToken cancellationToken) => Task.CompletedTask;
    }
}
