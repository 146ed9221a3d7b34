using Gateway.Configuration;
using Gateway.Keys;
using Gateway.Stores;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;

namespace Gateway.Tests.Keys;

/// <summary>
/// Last-used times kept in memory between flushes: a key's first use is written by the next flush, later ones once
/// a minute past the stored time or by the minute's walk, each key at most once per flush with its newest time; a
/// failed write is retried; shutdown writes every newer time; keys idle for ten minutes are forgotten.
/// </summary>
[TestFixture]
public sealed class KeyUsageTrackerTests
{
    private static readonly DateTimeOffset Start = new(2026, 12, 5, 10, 0, 0, TimeSpan.Zero);

    [Test]
    public async Task Flush_WritesEachRaisedKeyOnce_WithItsNewestSecond()
    {
        var (tracker, store, _) = Create();
        tracker.Record("key_a", Start.AddMilliseconds(1500));
        tracker.Record("key_b", Start);
        tracker.Record("key_a", Start.AddSeconds(3));
        tracker.Record("key_a", Start.AddSeconds(2)); // older: never lowers it

        await tracker.FlushAsync(CancellationToken.None);

        Assert.That(store.Writes, Has.Count.EqualTo(1));
        Assert.That(store.Writes[0], Is.EquivalentTo(new Dictionary<string, DateTimeOffset> { ["key_a"] = Start.AddSeconds(3), ["key_b"] = Start }));

        await tracker.FlushAsync(CancellationToken.None);
        Assert.That(store.Writes, Has.Count.EqualTo(1), "nothing raised since: nothing written");

        tracker.Record("key_b", Start.AddSeconds(0.5)); // the same second as written
        tracker.Record("key_a", Start.AddSeconds(4));
        tracker.Record("key_c", Start.AddSeconds(4));
        await tracker.FlushAsync(CancellationToken.None);
        Assert.That(store.Writes[1], Is.EquivalentTo(new Dictionary<string, DateTimeOffset> { ["key_c"] = Start.AddSeconds(4) }), "a first use at once; key_a within a minute of its stored time waits");
        Assert.That(tracker.Pending("key_a"), Is.EqualTo(Start.AddSeconds(4)), "shown here meanwhile");
        Assert.That(tracker.Pending("key_b"), Is.EqualTo(Start), "still shown after its write");
    }

    [Test]
    public async Task Flush_KeyInConstantUse_WrittenAboutOnceAMinute_ItsNewestTimeByTheMinutesWalk()
    {
        var (tracker, store, time) = Create();
        for (var s = 0; s < 150; s++)
        {
            tracker.Record("key_a", time.GetUtcNow());
            time.Advance(TimeSpan.FromSeconds(1));
            if (s % 5 == 4)
            {
                await tracker.FlushAsync(CancellationToken.None);
            }
        }

        var written = store.Writes.SelectMany(w => w).Select(p => (p.Value - Start).TotalSeconds).ToList();
        // The first flush, with the newest time by then (4); the walks at the next minutes' first flushes (at 60 s
        // and 120 s: 59, and 119, which a use 60 s past 59 had queued anyway); none in between.
        Assert.That(written, Is.EqualTo(new[] { 4d, 59, 119 }));

        await tracker.FlushAsync(everything: true, CancellationToken.None);
        Assert.That(store.Writes[^1].Single().Value, Is.EqualTo(Start.AddSeconds(149)), "shutdown writes the newest");
    }

    [Test]
    public async Task Record_AMinutePastTheStoredTime_QueuedForTheNextFlush()
    {
        var (tracker, store, _) = Create();
        tracker.Record("key_a", Start);
        await tracker.FlushAsync(CancellationToken.None);
        tracker.Record("key_a", Start.AddSeconds(59));
        await tracker.FlushAsync(CancellationToken.None);
        Assert.That(store.Writes, Has.Count.EqualTo(1), "59 s past: waits for the walk");

        tracker.Record("key_a", Start.AddSeconds(60));
        await tracker.FlushAsync(CancellationToken.None);
        Assert.That(store.Writes[^1].Single().Value, Is.EqualTo(Start.AddSeconds(60)));
    }

    [Test]
    public async Task Flush_StoreFails_RetriedByTheNextFlush_WithNewerTimes()
    {
        var (tracker, store, _) = Create();
        tracker.Record("key_a", Start);
        tracker.Record("key_b", Start);
        store.Fail = true;
        await tracker.FlushAsync(CancellationToken.None);
        Assert.That(store.Writes, Is.Empty);

        store.Fail = false;
        tracker.Record("key_a", Start.AddSeconds(7));
        await tracker.FlushAsync(CancellationToken.None);

        Assert.That(store.Writes.Single(), Is.EquivalentTo(new Dictionary<string, DateTimeOffset> { ["key_a"] = Start.AddSeconds(7), ["key_b"] = Start }));
    }

    [Test]
    public async Task Flush_KeysIdleForTenMinutes_Forgotten_OthersKept()
    {
        var (tracker, store, time) = Create();
        tracker.Record("key_idle", Start);
        tracker.Record("key_busy", Start);
        await tracker.FlushAsync(CancellationToken.None);

        time.Advance(TimeSpan.FromMinutes(10) + TimeSpan.FromSeconds(1));
        tracker.Record("key_busy", time.GetUtcNow());
        await tracker.FlushAsync(CancellationToken.None);

        Assert.That(tracker.Count, Is.EqualTo(1));
        Assert.That(tracker.Pending("key_idle"), Is.Null);
        Assert.That(tracker.Pending("key_busy"), Is.EqualTo(new DateTimeOffset(time.GetUtcNow().UtcTicks / TimeSpan.TicksPerSecond * TimeSpan.TicksPerSecond, TimeSpan.Zero)));
        Assert.That(store.Writes, Has.Count.EqualTo(2));
    }

    [Test]
    public async Task Record_FromManyThreadsWhileFlushing_NewestTimeOfEveryKeyWritten()
    {
        var (tracker, store, _) = Create();
        const int Seconds = 2_000;
        var keys = Enumerable.Range(0, 8).Select(i => $"key_{i}").ToArray();
        var users = Enumerable.Range(0, 3).Select(t => Task.Run(() =>
        {
            for (var s = 1; s <= Seconds; s++)
            {
                foreach (var key in keys)
                {
                    tracker.Record(key, Start.AddSeconds(s));
                }
            }
        })).ToArray();

        while (!users.All(u => u.IsCompleted))
        {
            await tracker.FlushAsync(CancellationToken.None);
        }

        await Task.WhenAll(users);
        await tracker.FlushAsync(everything: true, CancellationToken.None);

        var newest = store.Writes.SelectMany(w => w).GroupBy(p => p.Key).ToDictionary(g => g.Key, g => g.Max(p => p.Value));
        Assert.That(newest.Keys, Is.EquivalentTo(keys));
        Assert.That(newest.Values, Has.All.EqualTo(Start.AddSeconds(Seconds)));
        Assert.That(store.Writes.All(w => w.Select(p => p.Key).Distinct().Count() == w.Count), Is.True, "a key at most once per flush");
    }

    private static (KeyUsageTracker Tracker, RecordingStore Store, FakeTimeProvider Time) Create()
    {
        var time = new FakeTimeProvider(Start);
        var store = new RecordingStore();
        return (new KeyUsageTracker(store, Options.Create(new GatewayOptions()), time, NullLogger<KeyUsageTracker>.Instance), store, time);
    }

    private sealed class RecordingStore : IKeyUsageRecorder
    {
        public List<IReadOnlyList<KeyValuePair<string, DateTimeOffset>>> Writes { get; } = [];

        public bool Fail { get; set; }

        public Task RecordKeyUsageAsync(IReadOnlyCollection<KeyValuePair<string, DateTimeOffset>> usage, CancellationToken cancellationToken)
        {
            if (Fail)
            {
                throw new StoreUnavailableException("down");
            }

            lock (Writes)
            {
                Writes.Add(usage.ToList());
            }

            return Task.CompletedTask;
        }
    }
}
