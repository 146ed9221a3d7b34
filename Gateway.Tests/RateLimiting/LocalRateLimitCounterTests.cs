using System.Net;
using Gateway.Http;
using Gateway.RateLimiting;
using Microsoft.Extensions.Time.Testing;

namespace Gateway.Tests.RateLimiting;

public sealed class LocalRateLimitCounterTests
{
    private static readonly LimitSpec Wide = LimitSpec.ForWorkspace("a", 10, TimeSpan.FromSeconds(10));
    private static readonly LimitSpec Narrow = LimitSpec.ForKey("k", 2, TimeSpan.FromSeconds(10));

    [Test]
    public void TryAcquire_FivePerTwoSeconds_SixthRefusedUntilTheFirstLeavesTheWindow()
    {
        var time = new FakeTimeProvider(new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero));
        var counter = new LocalRateLimitCounter(time);
        var spec = LimitSpec.ForWorkspace("acme", 5, TimeSpan.FromSeconds(2));

        Assert.That(Acquire(counter, spec).Allowed, Is.True);
        time.Advance(TimeSpan.FromSeconds(1));
        for (var i = 0; i < 4; i++)
        {
            var state = Acquire(counter, spec);
            Assert.That(state.Allowed, Is.True);
            Assert.That(state.Remaining, Is.EqualTo(3 - i));
        }

        var refused = Acquire(counter, spec);
        Assert.That(refused.Allowed, Is.False);

        // The first request (t=0) is released one bucket (2 s / 60) after it leaves the window.
        Assert.That(refused.ResetAfter, Is.InRange(TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(1) + TimeSpan.FromTicks(TimeSpan.FromSeconds(2).Ticks / 60)));

        time.Advance(TimeSpan.FromSeconds(1));
        Assert.That(Acquire(counter, spec).Allowed, Is.False, "exactly at the window edge the first request still counts");
        time.Advance(TimeSpan.FromMilliseconds(40));
        Assert.That(Acquire(counter, spec).Allowed, Is.True);
        Assert.That(Acquire(counter, spec).Allowed, Is.False, "only the first request's permit came back");
    }

    [Test]
    public void TryAcquire_RefusedByOneLimit_ChargesNoneOfTheOthers()
    {
        var counter = new LocalRateLimitCounter(new FakeTimeProvider());

        Assert.That(Acquire(counter, Wide, Narrow).Allowed, Is.True);
        Assert.That(Acquire(counter, Wide, Narrow).Allowed, Is.True);
        for (var i = 0; i < 5; i++)
        {
            var batch = Batch(Wide, Narrow);
            Assert.That(counter.TryAcquire(batch, 0, 2), Is.False);
            Assert.That(batch.State(0).Allowed, Is.True, "the workspace limit had room");
            Assert.That(batch.State(1).Allowed, Is.False, "the key limit refused");
        }

        Assert.That(Acquire(counter, Wide).Remaining, Is.EqualTo(7), "refused requests consumed nothing of the workspace limit");
    }

    [Test]
    public void Release_GivesBackTheChargedPermits()
    {
        var counter = new LocalRateLimitCounter(new FakeTimeProvider());
        var batch = Batch(Wide, Narrow);
        Assert.That(counter.TryAcquire(batch, 0, 2), Is.True);

        counter.Release(batch, 0, 2);

        Assert.That(Acquire(counter, Wide).Remaining, Is.EqualTo(9));
        Assert.That(Acquire(counter, Narrow).Remaining, Is.EqualTo(1));
    }

    [Test]
    public async Task TryAcquire_ConcurrentRequestsOnSharedLimits_AcceptExactlyTheLimit()
    {
        var counter = new LocalRateLimitCounter(new FakeTimeProvider());
        var shared = LimitSpec.ForWorkspace("hot", 1000, TimeSpan.FromMinutes(1));
        var accepted = 0;
        await Task.WhenAll(Enumerable.Range(0, 4).Select(t => Task.Run(() =>
        {
            for (var i = 0; i < 600; i++)
            {
                // Each thread also charges a limit of its own, locked together with the shared one.
                var batch = Batch(shared, LimitSpec.ForKey("k" + t, int.MaxValue, TimeSpan.FromMinutes(1)));
                if (counter.TryAcquire(batch, 0, 2))
                {
                    Interlocked.Increment(ref accepted);
                }
            }
        })));

        Assert.That(accepted, Is.EqualTo(1000));
    }

    [Test]
    public void TryAcquire_NewClientIpPerRequest_PartitionsStayBoundedAndLimited()
    {
        var time = new FakeTimeProvider();
        var counter = new LocalRateLimitCounter(time, maxPartitions: 500);
        for (var i = 0; i < 20_000; i++)
        {
            var ip = LimitSpec.ForIp(IpGroups.Group(new IPAddress(BitConverter.GetBytes(0x0A000000 + i)), 64), 1, TimeSpan.FromMinutes(1));
            Acquire(counter, ip);
        }

        Assert.That(counter.PartitionCount, Is.LessThanOrEqualTo(500 + counter.HeavyHitterReserve));

        // Past the cap a new address is counted in the sketch: never unlimited.
        var late = LimitSpec.ForIp(IpGroups.Group(IPAddress.Parse("198.51.100.77"), 64), 1, TimeSpan.FromMinutes(1));
        Acquire(counter, late);
        Assert.That(Acquire(counter, late).Allowed, Is.False);

        // Once the windows are empty they are dropped, and the count falls back.
        time.Advance(TimeSpan.FromMinutes(2));
        Assert.That(counter.Sweep(), Is.EqualTo(0));
    }

    [Test]
    [NonParallelizable]
    public void TryAcquire_OneRequestPerClientIp_HeldMemoryPerPartitionIsSmall()
    {
        const int Addresses = 20_000;

        // GC.GetTotalMemory counts the whole process: run alone, and keep the least of three fills, since whatever else
        // the process did meanwhile can only add to a fill's figure.
        var perPartition = Enumerable.Range(0, 3).Min(_ => HeldPerPartition(Addresses));
        TestContext.Out.WriteLine($"{perPartition:F0} B held per client-IP partition");

        // A bucket array per window (61 ints) and a lock object per window made it about 520 B.
        Assert.That(perPartition, Is.LessThan(300));
    }

    private static double HeldPerPartition(int addresses)
    {
        var before = GC.GetTotalMemory(forceFullCollection: true);
        var counter = new LocalRateLimitCounter(new FakeTimeProvider(), maxPartitions: addresses);
        var batch = new LimitBatch();
        for (var i = 0; i < addresses; i++)
        {
            batch.Count = 0;
            batch.Add(LimitSpec.ForIp(IpGroups.Group(new IPAddress(BitConverter.GetBytes(0x0A000000 + i)), 64), 60, TimeSpan.FromMinutes(1)));
            Assert.That(counter.TryAcquire(batch, LimitSlot.Ip, LimitSlot.AfterIp), Is.True);
        }

        var held = (GC.GetTotalMemory(forceFullCollection: true) - before) / (double)addresses;
        Assert.That(counter.PartitionCount, Is.EqualTo(addresses));
        GC.KeepAlive(counter);
        return held;
    }

    [TestCase("2001:db8:1:2::1", "2001:db8:1:2:ffff::9", 64, true)]
    [TestCase("2001:db8:1:2::1", "2001:db8:1:3::1", 64, false)]
    [TestCase("2001:db8:1:2::1", "2001:db8:1:3::1", 48, true)]
    [TestCase("2001:db8:1:2::1", "2001:db8:1:2::2", 128, false)]
    [TestCase("198.51.100.1", "198.51.100.2", 64, false)]
    [TestCase("::ffff:198.51.100.1", "198.51.100.1", 64, true)]
    public void IpGroups_Group_SharesAPartitionPerIpv6Prefix(string a, string b, int prefix, bool same)
    {
        Assert.That(IpGroups.Group(IPAddress.Parse(a), prefix) == IpGroups.Group(IPAddress.Parse(b), prefix), Is.EqualTo(same));
    }

    [TestCase("2001:db8:1:2::1", 64, "2001:db8:1:2::")]
    [TestCase("198.51.100.1", 64, "198.51.100.1")]
    public void IpGroups_Format_NamesTheGroup(string address, int prefix, string expected)
    {
        Assert.That(IpGroups.Format(IpGroups.Group(IPAddress.Parse(address), prefix)), Is.EqualTo(expected));
    }

    private static LimitBatch Batch(params LimitSpec[] specs)
    {
        var batch = new LimitBatch();
        foreach (var spec in specs)
        {
            batch.Add(spec);
        }

        return batch;
    }

    private static LimitState Acquire(LocalRateLimitCounter counter, params LimitSpec[] specs)
    {
        var batch = Batch(specs);
        counter.TryAcquire(batch, 0, specs.Length);
        return batch.State(0);
    }
}
