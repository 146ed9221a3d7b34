using BenchmarkDotNet.Attributes;
using Gateway.Configuration;
using Gateway.Keys;
using Gateway.Stores;
using Gateway.Usage;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace Gateway.Benchmarks;

/// <summary>
/// Usage counting with many keys in use: one flush interval's requests (45,000, about 5 s of the load
/// run at 100,000 keys), each on a random key, then the flusher's drain. The counters already hold the
/// two minutes before, as they do in steady state, so a drain that walks every bucket pays for them too.
/// Per operation: one request, its share of the drain included. The same for last-used times, whose
/// flush hands the batch to a store that keeps nothing.
/// </summary>
[MemoryDiagnoser]
public class UsageCountersBenchmarks
{
    private const int RequestsPerFlush = 45_000;

    private readonly FixedTime _time = new();
    private UsageCounters _counters = null!;
    private KeyUsageTracker _lastUsed = null!;
    private DateTimeOffset _lastUsedAt;
    private string[] _keys = null!;
    private string[] _orgs = null!;
    private int[][] _orders = null!;
    private int _next;

    [Params(100_000)]
    public int Keys { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _keys = Enumerable.Range(0, Keys).Select(i => $"key_{i:D8}").ToArray();
        _orgs = Enumerable.Range(0, Keys).Select(i => $"org_{i % 1000:D5}").ToArray();
        var random = new Random(7);
        // A new order each interval, as in a run: with one order replayed, memory allocated in the first pass's order
        // is walked in that order again after it, which the CPU's prefetcher rewards and a run never sees.
        _orders = Enumerable.Range(0, 16).Select(_ => Enumerable.Range(0, RequestsPerFlush).Select(_ => random.Next(Keys)).ToArray()).ToArray();
        _counters = new UsageCounters(_time);

        var minute = new DateTimeOffset(2026, 12, 5, 12, 0, 0, TimeSpan.Zero);
        for (var back = 2; back >= 1; back--)
        {
            _time.Now = minute.AddMinutes(-back);
            for (var i = 0; i < Keys; i++)
            {
                _counters.Add(UsageSubjectKind.Key, _keys[i], _orgs[i], 0);
            }

            _counters.Drain();
        }

        _time.Now = minute.AddSeconds(1);
        _lastUsed = new KeyUsageTracker(new NoStore(), Options.Create(new GatewayOptions()), _time, NullLogger<KeyUsageTracker>.Instance);
        foreach (var key in _keys)
        {
            _lastUsed.Record(key, _time.Now);
        }

        _lastUsed.FlushAsync(CancellationToken.None).GetAwaiter().GetResult();
        _lastUsedAt = _time.Now;
    }

    [Benchmark(OperationsPerInvoke = RequestsPerFlush)]
    public Task LastUsedFlushInterval()
    {
        // Each interval 5 s after the last, so every key's time is raised as in a run.
        var now = _lastUsedAt = _lastUsedAt.AddSeconds(5);
        var order = _orders[_next++ % _orders.Length];
        for (var n = 0; n < order.Length; n++)
        {
            // The requests of a flush interval spread over its 5 seconds.
            _lastUsed.Record(_keys[order[n]], now.AddTicks(n * (5 * TimeSpan.TicksPerSecond / RequestsPerFlush)));
        }

        return _lastUsed.FlushAsync(CancellationToken.None);
    }

    [Benchmark(OperationsPerInvoke = RequestsPerFlush)]
    public int FlushInterval()
    {
        foreach (var i in _orders[_next++ % _orders.Length])
        {
            _counters.Add(UsageSubjectKind.Key, _keys[i], _orgs[i], 0);
        }

        return _counters.Drain().Count;
    }

    private sealed class NoStore : IKeyUsageRecorder
    {
        public Task RecordKeyUsageAsync(IReadOnlyCollection<KeyValuePair<string, DateTimeOffset>> usage, CancellationToken cancellationToken) => Task.CompletedTask;
    }

    private sealed class FixedTime : TimeProvider
    {
        public DateTimeOffset Now { get; set; }

        public override DateTimeOffset GetUtcNow() => Now;
    }
}
