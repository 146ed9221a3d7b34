using System.Net;
using CsCheck;
using Gateway.Configuration;
using Gateway.Http;
using Gateway.RateLimiting;
using Gateway.Stores.Redis;
using Gateway.Tests.Common;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;

namespace Gateway.Tests.RateLimiting;

/// <summary>
/// The IP limit under a flood of distinct client addresses, past the exact set: addresses within the
/// limit are admitted, addresses over it are refused, and memory stays what the settings say.
/// </summary>
[NonParallelizable]
public sealed class IpFloodTests
{
    private static readonly TimeSpan Minute = TimeSpan.FromMinutes(1);

    /// <summary>One step of a script: a request from address <c>Address</c>, or the clock moving on.</summary>
    private sealed record Step(int Address, long AdvanceTicks);

    [Test]
    public void Sketch_ArbitraryScriptsAndTinyMemory_RefusesEverythingTheExactReferenceRefuses()
    {
        // A tiny sketch (few cells, many collisions) and an exact set of 4: most addresses are approximate.
        var step = Gen.Frequency(
            (6, Gen.Int[0, 60].Select(a => new Step(a, 0))),
            (2, Gen.Long[0, TimeSpan.TicksPerSecond * 20].Select(t => new Step(-1, t))));
        Gen.Select(Gen.Int[1, 6], step.Array[1, 600], Gen.Int[1, 3]).Sample((limit, script, memoryKb) =>
        {
            var time = new FakeTimeProvider(DateTimeOffset.UnixEpoch.AddDays(1));
            var counter = new LocalRateLimitCounter(time, maxPartitions: 4, sketchBytes: memoryKb * 1024L);
            var admitted = new Dictionary<int, List<long>>();
            foreach (var s in script)
            {
                if (s.Address < 0)
                {
                    time.Advance(TimeSpan.FromTicks(s.AdvanceTicks));
                    continue;
                }

                var now = time.GetUtcNow().UtcTicks;
                var mine = admitted.TryGetValue(s.Address, out var list) ? list : admitted[s.Address] = [];

                // The reference: what the exact window would count of what this limiter admitted.
                var exactUsed = mine.Count(t => t > now - Minute.Ticks);
                if (Acquire(counter, Address(s.Address), limit, Minute).Allowed)
                {
                    mine.Add(now);
                    Assert.That(exactUsed, Is.LessThan(limit), "admitted an address the exact reference refuses");
                }
            }

            // Never over the limit in any window.
            foreach (var times in admitted.Values)
            {
                for (int first = 0, last = 0; last < times.Count; last++)
                {
                    while (times[first] <= times[last] - Minute.Ticks)
                    {
                        first++;
                    }

                    Assert.That(last - first + 1, Is.LessThanOrEqualTo(limit));
                }
            }
        }, iter: 300);
    }

    [Test]
    public void Sketch_RoomyMemory_RefusesExactlyAsTheSliceReference()
    {
        // With cells to spare there are no collisions: the sketch decides as a window of 4 slices plus the current
        // one would (the stated granularity error: a permit comes back up to a slice late), no more, no less.
        var step = Gen.Frequency(
            (6, Gen.Int[0, 40].Select(a => new Step(a, 0))),
            (2, Gen.Long[0, TimeSpan.TicksPerSecond * 20].Select(t => new Step(-1, t))));
        Gen.Select(Gen.Int[1, 6], step.Array[1, 500]).Sample((limit, script) =>
        {
            var time = new FakeTimeProvider(DateTimeOffset.UnixEpoch.AddDays(1));
            var counter = new LocalRateLimitCounter(time, maxPartitions: 1, sketchBytes: 8L * 1024 * 1024);

            // Fill the exact set and its reserve with other addresses so every scripted address is approximate.
            for (var i = 0; i < 1 + counter.HeavyHitterReserve; i++)
            {
                Acquire(counter, Address(100_000 + i), 1, Minute);
            }

            var sliceTicks = Minute.Ticks / IpSketch.Slices;
            var admitted = new Dictionary<int, List<long>>();
            foreach (var s in script)
            {
                if (s.Address < 0)
                {
                    time.Advance(TimeSpan.FromTicks(s.AdvanceTicks));
                    continue;
                }

                var now = time.GetUtcNow().UtcTicks;
                var slice = now / sliceTicks;
                var mine = admitted.TryGetValue(s.Address, out var list) ? list : admitted[s.Address] = [];
                var sliceUsed = mine.Count(t => t / sliceTicks >= slice - IpSketch.Slices);
                var allowed = Acquire(counter, Address(s.Address), limit, Minute).Allowed;
                Assert.That(allowed, Is.EqualTo(sliceUsed < limit), $"address {s.Address} with {sliceUsed} counted of {limit}");
                if (allowed)
                {
                    mine.Add(now);
                }
            }
        }, iter: 200);
    }

    [Test]
    public void Flood_OneRequestPerAddress_WithinLimitAdmittedAndNoisyRefused([Values(false, true)] bool ipv6)
    {
        // The run, per minute: 1.4 million new addresses (IPv4, or IPv6 /64 groups), limit 5.
        const int PerMinute = 1_400_000;
        const int Limit = 5;
        var time = new FakeTimeProvider(DateTimeOffset.UnixEpoch.AddDays(1));
        var counter = new LocalRateLimitCounter(time, maxPartitions: 100_000, sketchBytes: 32L * 1024 * 1024);
        var batch = new LimitBatch();
        var refused = 0;
        var step = TimeSpan.FromTicks(Minute.Ticks / PerMinute);
        var noisy = LimitSpec.ForIp(ipv6 ? Group(IPAddress.Parse("2001:db8:ffff:1::1")) : Address(-7), Limit, Minute);
        var noisyAdmitted = 0;
        for (var i = 0; i < PerMinute * 2; i++)
        {
            batch.Count = 0;
            batch.Add(LimitSpec.ForIp(ipv6 ? V6Group(i) : Address(i), Limit, Minute));
            if (!counter.TryAcquire(batch, LimitSlot.Ip, LimitSlot.AfterIp))
            {
                refused++;
            }

            if (i % 1000 == 0)
            {
                // One noisy address among them: 2,800 requests over the two minutes.
                batch.Count = 0;
                batch.Add(ipv6 ? noisy with { Address = Group(IPAddress.Parse($"2001:db8:ffff:1::{(i % 9) + 1:x}")) } : noisy);
                noisyAdmitted += counter.TryAcquire(batch, LimitSlot.Ip, LimitSlot.AfterIp) ? 1 : 0;
            }

            time.Advance(step);
        }

        var rate = refused / (double)(PerMinute * 2);
        TestContext.Out.WriteLine($"refused {refused} of {PerMinute * 2} within-limit requests ({rate:P3}); approximate decisions {counter.ApproximateDecisions}; partitions {counter.PartitionCount}; sketch {counter.Sketch?.Bytes / (1024 * 1024)} MB");
        Assert.That(counter.ApproximateDecisions, Is.GreaterThan(PerMinute), "most decisions were past the exact set");
        Assert.That(rate, Is.LessThan(0.01), "within-limit addresses are admitted");
        Assert.That(noisyAdmitted, Is.InRange(Limit, Limit * 2), "the noisy address gets its limit per window, no more, over the two minutes");
        Assert.That(counter.PartitionCount, Is.LessThanOrEqualTo(counter.MaxPartitions + counter.HeavyHitterReserve));
        Assert.That(counter.Sketch!.Bytes, Is.LessThanOrEqualTo(32L * 1024 * 1024));
    }

    [Test]
    public void ExactSetFull_LogsOncePerMinuteAndCountsApproximateDecisions()
    {
        var time = new FakeTimeProvider(DateTimeOffset.UnixEpoch.AddDays(1));
        var logger = new CountingLogger();
        var counter = new LocalRateLimitCounter(time, maxPartitions: 10, sketchBytes: 1024 * 1024, logger: logger);
        for (var i = 0; i < 1000; i++)
        {
            Acquire(counter, Address(i), 5, Minute);
        }

        Assert.That(counter.ApproximateDecisions, Is.EqualTo(990));
        Assert.That(logger.Warnings, Is.EqualTo(1), "rate-limited: one line while the exact set stays full");
    }

    [Test]
    public async Task Redis_FloodOfAddresses_WithinLimitAdmitted_NoisyRefused_RedisAndLeasesBounded()
    {
        using var redis = RedisServer.Start();
        var options = new GatewayOptions();
        options.Store.Redis = redis.ConnectionString;
        options.Store.RedisPrefix = $"t{Guid.NewGuid():N}:";
        using var connection = await StackExchange.Redis.ConnectionMultiplexer.ConnectAsync(redis.ConnectionString + ",allowAdmin=true");
        var local = new LocalRateLimitCounter(TimeProvider.System, maxPartitions: 200, sketchBytes: 4L * 1024 * 1024);
        using var counter = new RedisRateLimitCounter(new RedisSharedLimitStore(connection, Options.Create(options)), local, Options.Create(options), NullLogger<RedisRateLimitCounter>.Instance);

        const int Limit = 5;
        var refused = 0;
        const int Addresses = 5000;
        for (var i = 0; i < Addresses; i++)
        {
            refused += await AcquireAsync(counter, LimitSpec.ForIp(i % 2 == 0 ? Address(i) : V6Group(i), Limit, Minute)) ? 0 : 1;
        }

        var noisy = LimitSpec.ForIp(Address(-9), Limit, Minute);
        var noisyAdmitted = 0;
        for (var i = 0; i < 40; i++)
        {
            noisyAdmitted += await AcquireAsync(counter, noisy) ? 1 : 0;
        }

        var server = connection.GetServer(connection.GetEndPoints()[0]);
        var keys = server.Keys(pattern: options.Store.RedisPrefix + "*").Count();
        TestContext.Out.WriteLine($"refused {refused} of {Addresses}; noisy admitted {noisyAdmitted}; Redis keys {keys}; leases {counter.LeaseCount}; approximate {local.ApproximateDecisions}");
        Assert.That(refused, Is.LessThan(Addresses / 100), "within-limit addresses are admitted");
        Assert.That(noisyAdmitted, Is.EqualTo(Limit), "the noisy address is promoted out of the sketch and refused past its limit");
        Assert.That(keys, Is.LessThanOrEqualTo(local.MaxPartitions + local.HeavyHitterReserve), "Redis holds the exact set's partitions only");
        Assert.That(counter.LeaseCount, Is.LessThanOrEqualTo(local.MaxPartitions + local.HeavyHitterReserve));
        Assert.That(local.ApproximateDecisions, Is.GreaterThan(Addresses - 500));
    }

    private static async Task<bool> AcquireAsync(RedisRateLimitCounter counter, LimitSpec spec)
    {
        // As the two middlewares do: the IP stage, then (deferred) the request stage charges it in Redis.
        var batch = new LimitBatch();
        batch.Add(spec);
        switch (counter.AcquireIp(batch))
        {
            case IpDecision.Refused:
                return false;
            case IpDecision.Deferred:
                batch.IpDeferred = true;
                return await counter.AcquireAsync(batch, 0, CancellationToken.None);
            default:
                return true;
        }
    }

    private static LimitState Acquire(LocalRateLimitCounter counter, LimitSpec spec)
    {
        var batch = new LimitBatch();
        batch.Add(spec);
        counter.TryAcquire(batch, LimitSlot.Ip, LimitSlot.AfterIp);
        return batch.State(0);
    }

    private static LimitState Acquire(LocalRateLimitCounter counter, UInt128 address, int limit, TimeSpan window) =>
        Acquire(counter, LimitSpec.ForIp(address, limit, window));

    private static UInt128 Address(int i) => Group(new IPAddress(BitConverter.GetBytes(0x0A000000 + i)));

    // Distinct /64s; the host part varies too, which the grouping drops.
    private static UInt128 V6Group(int i) => Group(new IPAddress([0x20, 0x01, 0x0d, 0xb8, (byte)(i >> 24), (byte)(i >> 16), (byte)(i >> 8), (byte)i, 0, 0, 0, 0, (byte)i, 0, 0, 1]));

    private static UInt128 Group(IPAddress address) => IpGroups.Group(address, 64);

    private sealed class CountingLogger : Microsoft.Extensions.Logging.ILogger
    {
        public int Warnings { get; private set; }

        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(Microsoft.Extensions.Logging.LogLevel logLevel) => true;

        public void Log<TState>(Microsoft.Extensions.Logging.LogLevel logLevel, Microsoft.Extensions.Logging.EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (eventId.Id == Gateway.Observability.EventIds.RateLimitIpExactSetFull)
            {
                Warnings++;
            }
        }
    }
}
