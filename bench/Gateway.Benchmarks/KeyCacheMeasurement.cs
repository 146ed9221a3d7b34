using System.Diagnostics;
using System.Globalization;
using Gateway.Configuration;
using Gateway.Domain;
using Gateway.Keys;
using Gateway.Observability;
using Gateway.Stores;
using Gateway.Stores.Redis;
using Gateway.Stores.Sqlite;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace Gateway.Benchmarks;

/// <summary>
/// Not timed benchmarks but measurements at scale, for docs/performance.md ("At scale"):
/// <list type="bullet">
/// <item><c>--make-keys N ORGS import.jsonl keys.txt</c> writes N new keys spread over ORGS organizations: the
/// import file for <c>Gateway keys import</c> (hashes only) and the plaintext keys, one a line, for wrk.</item>
/// <item><c>--key-cache N sqlite|redis [connection]</c> imports N keys into a fresh store, resolves each once
/// through the gateway's <see cref="KeyResolver"/> (every lookup a miss, one after another), then once more
/// (every lookup a hit), and prints the miss cost (µs, and Redis commands per miss from INFO commandstats; then the
/// store's read alone for up to 5,000 of the keys, with what the process allocated per read),
/// the retained bytes per cached key (GC.GetTotalMemory after full collections, before and after filling)
/// and the allocation per hit (GC.GetAllocatedBytesForCurrentThread).</item>
/// </list>
/// </summary>
internal static class KeyCacheMeasurement
{
    public static void MakeKeys(int count, int orgs, string importFile, string keysFile)
    {
        using var import = new StreamWriter(importFile);
        using var plain = new StreamWriter(keysFile);
        for (var i = 0; i < count; i++)
        {
            var key = ApiKeyFormat.Generate("gw", KeyEnvironments.Production);
            import.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $$"""{"org":"org{{i % orgs}}","name":"k{{i}}","hash":"{{ApiKeyFormat.Hash(key)}}","prefix":"{{ApiKeyFormat.DisplayPrefix(key)}}","environment":"production"}"""));
            plain.WriteLine(key);
        }
    }

    public static async Task RunAsync(int count, string storeKind, string? connection)
    {
        var directory = Path.Combine(Path.GetTempPath(), "gw-keycache-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(directory);
        var prefix = "kc" + Guid.NewGuid().ToString("N")[..8] + ":";
        var options = new GatewayOptions
        {
            Store = { Path = Path.Combine(directory, "gateway.db"), Redis = storeKind == "redis" ? connection : null, RedisPrefix = prefix },
            Cache = { FreshFor = TimeSpan.FromDays(1), StaleFor = TimeSpan.FromDays(2), NegativeFor = TimeSpan.FromDays(1), MaxEntries = Math.Max(count, 1) },
        };
        using var redis = storeKind == "redis" ? RedisConnection.Connect((connection ?? "127.0.0.1:6379") + ",allowAdmin=true", TimeSpan.FromSeconds(5)) : null;
        IGatewayStore store = redis is null ? new SqliteGatewayStore(Options.Create(options)) : new RedisGatewayStore(redis, Options.Create(options));
        await store.InitializeAsync(CancellationToken.None);

        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"Key cache on {storeKind}: {count} keys over {Math.Max(1, count / 100)} organizations, Gateway:Cache:MaxEntries {options.Cache.MaxEntries}"));
        var keys = await SeedAsync((IKeyImportStore)store, count);

        var services = new ServiceCollection();
        services.AddLogging();
        services.AddSingleton<IOptions<GatewayOptions>>(Options.Create(options));
        services.AddSingleton(TimeProvider.System);
        services.AddSingleton<IKeyLookup>(store);
        services.AddSingleton<StoreResilience>();
        services.AddMetrics();
        services.AddSingleton<GatewayMetrics>();
        services.AddSingleton<KeyResolver>();
        await using var provider = services.BuildServiceProvider();
        var resolver = provider.GetRequiredService<KeyResolver>();
        var digests = keys.Select(k => ApiKeyFormat.Digest(k)).ToArray();

        var commandsBefore = await RedisCommandsAsync(redis);
        var before = SettledMemory();
        var started = Stopwatch.GetTimestamp();
        foreach (var digest in digests)
        {
            _ = await resolver.ResolveAsync(digest, CancellationToken.None) ?? throw new InvalidOperationException("An imported key did not resolve.");
        }

        var missMicros = Stopwatch.GetElapsedTime(started).TotalMicroseconds / count;
        var commands = await RedisCommandsAsync(redis) - commandsBefore;
        var after = SettledMemory();

        // Hits: the same keys again, timed and counted for allocations on this thread.
        var allocated = GC.GetAllocatedBytesForCurrentThread();
        started = Stopwatch.GetTimestamp();
        foreach (var digest in digests)
        {
            var hit = resolver.ResolveAsync(digest, CancellationToken.None);
            if (!hit.IsCompletedSuccessfully || hit.Result is null)
            {
                throw new InvalidOperationException("A second lookup was not a cache hit.");
            }
        }

        var hitNanos = Stopwatch.GetElapsedTime(started).TotalNanoseconds / count;
        var hitBytes = (double)(GC.GetAllocatedBytesForCurrentThread() - allocated) / count;
        GC.KeepAlive(resolver);

        // The store's own share of a miss: the same reads without the cache, resilience pipeline and telemetry around them.
        var sample = digests.Take(Math.Min(count, 5000)).Select(d => d.ToHex()).ToArray();
        var readAllocated = GC.GetTotalAllocatedBytes(precise: true);
        started = Stopwatch.GetTimestamp();
        foreach (var hash in sample)
        {
            _ = await store.FindKeyByHashAsync(hash, CancellationToken.None) ?? throw new InvalidOperationException("An imported key was not found.");
        }

        var storeMicros = Stopwatch.GetElapsedTime(started).TotalMicroseconds / sample.Length;
        var readBytes = (double)(GC.GetTotalAllocatedBytes(precise: true) - readAllocated) / sample.Length;

        // The same reads 32 at a time, as a loaded gateway's concurrent misses make them (wrk's 32 connections).
        var next = -1;
        started = Stopwatch.GetTimestamp();
        await Task.WhenAll(Enumerable.Range(0, 32).Select(async worker =>
        {
            int i;
            while ((i = Interlocked.Increment(ref next)) < sample.Length)
            {
                if (await store.FindKeyByHashAsync(sample[i], CancellationToken.None) is null)
                {
                    throw new InvalidOperationException($"An imported key was not found (reader {worker}).");
                }
            }
        }));
        var concurrentPerSecond = sample.Length / Stopwatch.GetElapsedTime(started).TotalSeconds;

        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  miss (store read, sequential): {missMicros:F1} us per key{(redis is null ? "" : $", {(double)commands / count:F2} Redis commands per miss")}"));
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  of which the store read alone (FindKeyByHashAsync, {sample.Length} keys): {storeMicros:F1} us, {readBytes:F0} B allocated per read (the whole process)"));
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  the store read, 32 at a time: {concurrentPerSecond:F0} reads/s"));
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  hit: {hitNanos:F0} ns, {hitBytes:F1} B allocated per lookup"));
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  cached: {(double)(after - before) / count:F0} B retained per cached key ({(after - before) / 1048576.0:F1} MiB for {count} keys)"));
        if (redis is not null)
        {
            await redis.GetServers()[0].ExecuteAsync("FLUSHDB");
        }

        Directory.Delete(directory, recursive: true);
    }

    internal static async Task<List<string>> SeedAsync(IKeyImportStore store, int count)
    {
        var keys = new List<string>(count);
        var now = KeyRules.ToStoredPrecision(DateTimeOffset.UtcNow);
        var orgs = Math.Max(1, count / 100);
        var started = Stopwatch.GetTimestamp();
        for (var offset = 0; offset < count; offset += 5000)
        {
            var batch = new List<ApiKeyRecord>();
            var newOrgs = new List<Organization>();
            for (var i = offset; i < Math.Min(count, offset + 5000); i++)
            {
                var key = ApiKeyFormat.Generate("gw", KeyEnvironments.Production);
                keys.Add(key);
                var org = "org" + (i % orgs).ToString(CultureInfo.InvariantCulture);
                var record = new ApiKeyRecord
                {
                    Id = "key_" + Base62.Random(20),
                    OrgId = org,
                    Name = "k" + i.ToString(CultureInfo.InvariantCulture),
                    Prefix = ApiKeyFormat.DisplayPrefix(key),
                    Hash = ApiKeyFormat.Hash(key),
                    Environment = KeyEnvironments.Production,
                    Scopes = [KeyRules.AnyScope],
                    IsDefault = i < orgs,
                    CreatedBy = "import",
                    CreatedAt = now,
                    UpdatedAt = now,
                    Version = 1,
                };
                if (i < orgs)
                {
                    newOrgs.Add(new Organization(org, org, now, record.Id));
                }

                batch.Add(record);
            }

            await store.ImportKeysAsync(newOrgs, batch, [], CancellationToken.None);
        }

        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  seeded in {Stopwatch.GetElapsedTime(started).TotalSeconds:F1} s"));
        return keys;
    }

    private static long SettledMemory()
    {
        GC.Collect(2, GCCollectionMode.Forced, blocking: true, compacting: true);
        GC.WaitForPendingFinalizers();
        return GC.GetTotalMemory(forceFullCollection: true);
    }

    private static async Task<long> RedisCommandsAsync(IConnectionMultiplexer? redis)
    {
        if (redis is null)
        {
            return 0;
        }

        var info = await redis.GetServers()[0].InfoAsync("commandstats");
        return info.SelectMany(g => g).Sum(p => long.Parse(p.Value.Split(',')[0].Split('=')[1], CultureInfo.InvariantCulture));
    }
}
