using BenchmarkDotNet.Running;
using Gateway.Benchmarks;

// dotnet run -c Release --project bench/Gateway.Benchmarks -- --filter '*'
// dotnet run -c Release --project bench/Gateway.Benchmarks -- --loop gateway|plain [requests] [rounds]
//   runs PipelineBenchmarks' request in a plain loop (for perf, dotnet-trace or dotnet-counters to attach to),
//   printing time, allocation, thread-pool work items and process CPU per request after each round.
// dotnet bench/Gateway.Benchmarks/bin/Release/net10.0/Gateway.Benchmarks.dll --trace-report trace.nettrace requests [top]
//   bytes allocated per request by type, and GCs per request, from a trace bench/profile.sh took with PROFILER=allocations.
if (args is ["--trace-report", var trace, var requests, ..])
{
    TraceReport.Print(trace, double.Parse(requests, System.Globalization.CultureInfo.InvariantCulture), args.Length > 3 ? int.Parse(args[3], System.Globalization.CultureInfo.InvariantCulture) : 30);
    return;
}

if (args is ["--loop", var target, ..])
{
    await PipelineLoop.RunAsync(target, args.Length > 2 ? int.Parse(args[2], System.Globalization.CultureInfo.InvariantCulture) : 50_000, args.Length > 3 ? int.Parse(args[3], System.Globalization.CultureInfo.InvariantCulture) : 10);
    return;
}

BenchmarkSwitcher.FromAssembly(typeof(BenchConfig).Assembly).Run(args, new BenchConfig());
