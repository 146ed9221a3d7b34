using System.Diagnostics;
using System.Globalization;

namespace Gateway.Benchmarks;

/// <summary>The request of <see cref="PipelineBenchmarks"/> in a loop, for a profiler to attach to.</summary>
internal static class PipelineLoop
{
    public static async Task RunAsync(string target, int requests, int rounds, int keys = 1, string features = "default")
    {
        var benchmarks = new PipelineBenchmarks { KeyCount = keys, Features = features };
        benchmarks.Setup();
        try
        {
            Func<Task<Microsoft.AspNetCore.Http.HttpContext>> send = target switch
            {
                "gateway" => benchmarks.Gateway,
                "plain" => benchmarks.Plain,
                _ => throw new ArgumentException($"Unknown target '{target}': use gateway or plain."),
            };
            using var process = Process.GetCurrentProcess();
            for (var round = 0; round < rounds; round++)
            {
                var allocated = GC.GetTotalAllocatedBytes(precise: true);
                var workItems = ThreadPool.CompletedWorkItemCount;
                var gen0 = GC.CollectionCount(0);
                var gen1 = GC.CollectionCount(1);
                var paused = GC.GetTotalPauseDuration();
                process.Refresh();
                var cpu = process.TotalProcessorTime;
                var clock = Stopwatch.StartNew();
                for (var i = 0; i < requests; i++)
                {
                    var context = await send();
                    if (context.Response.StatusCode != 200)
                    {
                        throw new InvalidOperationException($"{target} answered {context.Response.StatusCode}");
                    }
                }

                var elapsed = clock.Elapsed;
                process.Refresh();
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"{target}: {elapsed.TotalMicroseconds / requests:F2} us/request, {(GC.GetTotalAllocatedBytes(precise: true) - allocated) / requests} B/request, " +
                    $"{(ThreadPool.CompletedWorkItemCount - workItems) / (double)requests:F2} work items/request, {(process.TotalProcessorTime - cpu).TotalMicroseconds / requests:F2} CPU us/request, " +
                    $"GC {GC.CollectionCount(0) - gen0} gen0 ({GC.CollectionCount(1) - gen1} gen1), paused {(GC.GetTotalPauseDuration() - paused).TotalMicroseconds / requests:F2} us/request"));
            }
        }
        finally
        {
            benchmarks.Cleanup();
        }
    }
}
