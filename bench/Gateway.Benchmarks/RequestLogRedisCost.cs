using System.Diagnostics;
using System.Globalization;
using Gateway.Configuration;
using Gateway.RequestLog;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace Gateway.Benchmarks;

/// <summary>
/// What a request log record costs Redis and the writer, without the rest of the gateway: batches of the Redis
/// default (500) spread over <c>orgs</c> organizations, appended through <see cref="RedisRequestLogStore"/> to the Redis
/// at <c>host:port</c> (flushed first: use a scratch server). Prints Redis's CPU per record (<c>INFO cpu</c>, the
/// server's user + system time) and the writer's time and allocation per record, after a first pass that fills the
/// streams and indexes, as under load.
/// </summary>
internal static class RequestLogRedisCost
{
    public static async Task RunAsync(string endpoint, int records, int orgs)
    {
        using var redis = await ConnectionMultiplexer.ConnectAsync(endpoint + ",allowAdmin=true");
        var server = redis.GetServers()[0];
        await server.FlushAllDatabasesAsync();
        var store = new RedisRequestLogStore(redis, Options.Create(new GatewayOptions()), Options.Create(new RequestLogOptions()), TimeProvider.System);
        var start = DateTimeOffset.UtcNow;
        var sequence = 0;
        List<RequestRecord> Batch() => [.. Enumerable.Range(0, RequestLogOptions.RedisBatchSize).Select(_ =>
        {
            var n = sequence++;
            return new RequestRecord(start.AddMilliseconds(n), "0HNAB12CD34EF:" + n.ToString("X8", CultureInfo.InvariantCulture), "org_" + (n % orgs).ToString(CultureInfo.InvariantCulture),
                "key_" + (n % (orgs * 100)).ToString(CultureInfo.InvariantCulture), null, "GET", "/bench/items/42", "bench", 200, null, 1.234567, "127.0.0.1", 200);
        })];

        for (var pass = 0; pass < 2; pass++)
        {
            var batches = Enumerable.Range(0, records / RequestLogOptions.RedisBatchSize).Select(_ => Batch()).ToList();
            var redisBefore = await RedisCpuSecondsAsync(server);
            // Process-wide: the appends' continuations run on other threads.
            var total = GC.GetTotalAllocatedBytes(precise: true);
            var clock = Stopwatch.StartNew();
            foreach (var batch in batches)
            {
                await store.AppendAsync(batch, CancellationToken.None);
            }

            clock.Stop();
            var perRecord = 1e6 / (batches.Count * RequestLogOptions.RedisBatchSize);
            var redisCpu = await RedisCpuSecondsAsync(server) - redisBefore;
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{(pass == 0 ? "filling" : "filled ")}: {batches.Count * RequestLogOptions.RedisBatchSize} records over {orgs} organizations: Redis CPU {redisCpu * perRecord:F2} us per record, " +
                $"append {clock.Elapsed.TotalSeconds * perRecord:F2} us per record (wall), {(GC.GetTotalAllocatedBytes(precise: true) - total) * perRecord / 1e6:F0} B allocated per record"));
        }

        var memory = await redis.GetDatabase().ExecuteAsync("MEMORY", "USAGE", "gw:reqlog:{org_0}", "SAMPLES", "0");
        Console.WriteLine($"one organization's stream: {(long)memory} bytes for {await redis.GetDatabase().StreamLengthAsync("gw:reqlog:{org_0}")} records");
    }

    private static async Task<double> RedisCpuSecondsAsync(IServer server)
    {
        var info = await server.InfoAsync("cpu");
        return info.SelectMany(g => g).Where(p => p.Key is "used_cpu_user" or "used_cpu_sys").Sum(p => double.Parse(p.Value, CultureInfo.InvariantCulture));
    }
}
