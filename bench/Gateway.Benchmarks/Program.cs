using BenchmarkDotNet.Running;
using Gateway.Benchmarks;

// dotnet run -c Release --project bench/Gateway.Benchmarks -- --filter '*'
// dotnet run -c Release --project bench/Gateway.Benchmarks -- --loop gateway|plain [requests] [rounds] [keys] [features]
//   runs PipelineBenchmarks' request in a plain loop (for perf, dotnet-trace or dotnet-counters to attach to),
//   printing time, allocation, thread-pool work items and process CPU per request after each round; with keys > 1,
//   the gateway's requests take that many keys in turn (all cached after the first round); features as
//   PipelineBenchmarks.Features (default, off: no usage counts and no request log, signing, access-log).
// dotnet bench/Gateway.Benchmarks/bin/Release/net10.0/Gateway.Benchmarks.dll --trace-report trace.nettrace requests [top]
//   bytes allocated per request by type, and GCs per request, from a trace bench/profile.sh took with PROFILER=allocations.
if (args is ["--trace-report", var trace, var requests, ..])
{
    TraceReport.Print(trace, double.Parse(requests, System.Globalization.CultureInfo.InvariantCulture), args.Length > 3 ? int.Parse(args[3], System.Globalization.CultureInfo.InvariantCulture) : 30);
    return;
}

// dotnet bench/Gateway.Benchmarks/bin/Release/net10.0/Gateway.Benchmarks.dll --make-keys N ORGS import.jsonl keys.txt
// dotnet bench/Gateway.Benchmarks/bin/Release/net10.0/Gateway.Benchmarks.dll --key-cache N sqlite|redis [host:port]
//   see KeyCacheMeasurement: seeding files for bench/load.sh's KEYS mode, and bytes per cached key and miss cost per store.
if (args is ["--make-keys", var count, var orgs, var importFile, var keysFile])
{
    KeyCacheMeasurement.MakeKeys(int.Parse(count, System.Globalization.CultureInfo.InvariantCulture), int.Parse(orgs, System.Globalization.CultureInfo.InvariantCulture), importFile, keysFile);
    return;
}

if (args is ["--key-cache", var keyCount, var storeKind, ..])
{
    await KeyCacheMeasurement.RunAsync(int.Parse(keyCount, System.Globalization.CultureInfo.InvariantCulture), storeKind, args.Length > 3 ? args[3] : null);
    return;
}

// dotnet bench/Gateway.Benchmarks/bin/Release/net10.0/Gateway.Benchmarks.dll --usage-memory N
//   see UsageCountersMemory: what usage counting holds and allocates per key in use, minute after minute.
if (args is ["--usage-memory", var usageKeys])
{
    UsageCountersMemory.Run(int.Parse(usageKeys, System.Globalization.CultureInfo.InvariantCulture));
    return;
}

// dotnet bench/Gateway.Benchmarks/bin/Release/net10.0/Gateway.Benchmarks.dll --reqlog-redis host:port [records] [orgs]
//   see RequestLogRedisCost: Redis's CPU and the writer's time and allocation per request log record (flushes that Redis).
if (args is ["--reqlog-redis", var endpoint, ..])
{
    await RequestLogRedisCost.RunAsync(endpoint, args.Length > 2 ? int.Parse(args[2], System.Globalization.CultureInfo.InvariantCulture) : 200_000, args.Length > 3 ? int.Parse(args[3], System.Globalization.CultureInfo.InvariantCulture) : 1000);
    return;
}

if (args is ["--loop", var target, ..])
{
    await PipelineLoop.RunAsync(target, args.Length > 2 ? int.Parse(args[2], System.Globalization.CultureInfo.InvariantCulture) : 50_000, args.Length > 3 ? int.Parse(args[3], System.Globalization.CultureInfo.InvariantCulture) : 10,
        args.Length > 4 ? int.Parse(args[4], System.Globalization.CultureInfo.InvariantCulture) : 1, args.Length > 5 ? args[5] : "default");
    return;
}

BenchmarkSwitcher.FromAssembly(typeof(BenchConfig).Assembly).Run(args, new BenchConfig());
