using System.Globalization;
using Microsoft.Diagnostics.Tracing;

namespace Gateway.Benchmarks;

/// <summary>
/// Reads an EventPipe trace of the runtime's allocation-sampling and GC events (what bench/profile.sh
/// collects with PROFILER=allocations) and prints bytes allocated per request by type, and collections
/// and pause time per request. The runtime samples allocations at random, about one per 100 KB, so a
/// type's share of the samples is its share of the bytes, without the bias of the fixed-interval
/// AllocationTick event.
/// </summary>
internal static class TraceReport
{
    // The mean distance between two allocation samples (.NET 10's randomized allocation sampling).
    private const double BytesPerSample = 100 * 1024;

    public static void Print(string path, double requests, int top)
    {
        var samples = new Dictionary<string, long>(StringComparer.Ordinal);
        long total = 0;
        int collections = 0, gen1 = 0, gen2 = 0;
        double pauseMs = 0, suspendedAt = -1;
        using (var source = new EventPipeEventSource(path))
        {
            source.Clr.AllocationSampling += data =>
            {
                var type = data.TypeName ?? "?";
                samples[type] = samples.GetValueOrDefault(type) + 1;
                total++;
            };
            source.Clr.GCStart += data =>
            {
                collections++;
                if (data.Depth == 1)
                {
                    gen1++;
                }
                else if (data.Depth >= 2)
                {
                    gen2++;
                }
            };
            source.Clr.GCSuspendEEStart += data => suspendedAt = data.TimeStampRelativeMSec;
            source.Clr.GCRestartEEStop += data =>
            {
                if (suspendedAt >= 0)
                {
                    pauseMs += data.TimeStampRelativeMSec - suspendedAt;
                }

                suspendedAt = -1;
            };
            source.Process();
        }

        var inv = CultureInfo.InvariantCulture;
        Console.WriteLine(string.Format(inv, "{0:N0} requests in the trace; {1:N0} allocation samples: about {2:N0} B allocated per request", requests, total, total * BytesPerSample / requests));
        Console.WriteLine(string.Format(inv, "{0} collections ({1} gen1, {2} gen2): one per {3:N0} requests; paused {4:N1} ms in all, {5:N2} us per request", collections, gen1, gen2, requests / Math.Max(1, collections), pauseMs, pauseMs * 1000 / requests));
        Console.WriteLine("   B/req  type");
        foreach (var (type, count) in samples.OrderByDescending(p => p.Value).Take(top))
        {
            Console.WriteLine(string.Format(inv, "{0,8:N0}  {1}", count * BytesPerSample / requests, type));
        }
    }
}
