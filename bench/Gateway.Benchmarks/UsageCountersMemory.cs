using System.Globalization;
using Gateway.Usage;

namespace Gateway.Benchmarks;

/// <summary>
/// <c>--usage-memory N</c>: the memory usage counting holds for N keys in use, each counted every minute for
/// four minutes with a drain every 5 s of simulated time, as the flusher does; printed per key after each
/// minute (retained, after a full collection) with what the minutes allocated. The key ids exist before the
/// first measurement, as the key cache's strings do, so they are not counted.
/// </summary>
internal static class UsageCountersMemory
{
    public static void Run(int count)
    {
        var ids = Enumerable.Range(0, count).Select(i => $"key_{i:D20}").ToArray();
        var orgs = Enumerable.Range(0, count / 100 + 1).Select(i => $"org_{i:D6}").ToArray();
        var time = new ManualTime { Now = new DateTimeOffset(2026, 12, 5, 12, 0, 0, TimeSpan.Zero) };
        var counters = new UsageCounters(time);
        var before = Retained();
        var allocatedBefore = GC.GetTotalAllocatedBytes(precise: true);
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"Usage counters, {count} keys each counted once a minute, drained every 5 s:"));
        for (var minute = 1; minute <= 4; minute++)
        {
            // Spread over the minute's twelve flush intervals, a twelfth of the keys in each.
            for (var interval = 0; interval < 12; interval++)
            {
                for (var i = interval; i < count; i += 12)
                {
                    counters.Add(UsageSubjectKind.Key, ids[i], orgs[i / 100], UsageOutcomes.AllowedIndex);
                }

                time.Now = time.Now.AddSeconds(5);
                counters.Drain();
            }

            var retained = Retained() - before;
            var allocated = GC.GetTotalAllocatedBytes(precise: true) - allocatedBefore;
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"  after minute {minute}: {retained / (double)count:F0} B retained per key, {allocated / (double)count / minute:F0} B allocated per key and minute (drained records included)"));
        }

        GC.KeepAlive(counters);
        GC.KeepAlive(ids);
    }

    private static long Retained()
    {
        GC.Collect(2, GCCollectionMode.Forced, blocking: true, compacting: true);
        GC.WaitForPendingFinalizers();
        GC.Collect(2, GCCollectionMode.Forced, blocking: true, compacting: true);
        return GC.GetTotalMemory(forceFullCollection: true);
    }

    private sealed class ManualTime : TimeProvider
    {
        public DateTimeOffset Now { get; set; }

        public override DateTimeOffset GetUtcNow() => Now;
    }
}
