using Gateway.RateLimiting;

namespace Gateway.Tests.RateLimiting;

public sealed class OrderedGateTests
{
    [Test]
    public void TryEnterAll_AllLive_HoldsEveryGateInOrderUntilExitAll()
    {
        var (batch, windows) = Batch(3);
        Span<int> order = [2, 0, 1];

        Assert.That(OrderedGate.TryEnterAll(batch, order), Is.True);
        Assert.That(order.ToArray().Select(i => windows[i].Order), Is.Ordered);
        Assert.That(windows.Select(w => Monitor.IsEntered(w)), Is.All.True);

        OrderedGate.ExitAll(batch, order);
        Assert.That(windows.Select(w => Monitor.IsEntered(w)), Is.All.False);
    }

    [Test]
    public void TryEnterAll_OneRetired_ReturnsFalseAndHoldsNothing()
    {
        // A caller that sees a retired holder looks its holders up again; if any gate stayed held, every
        // later request on that partition would wait forever (the Redis limiter once leaked gates this way).
        var (batch, windows) = Batch(3);
        windows[1].Retired = true;
        Span<int> order = [0, 1, 2];

        Assert.That(OrderedGate.TryEnterAll(batch, order), Is.False);

        Assert.That(windows.Select(w => Monitor.IsEntered(w)), Is.All.False);
        var free = Task.Run(() => windows.All(w =>
        {
            if (!Monitor.TryEnter(w))
            {
                return false;
            }

            Monitor.Exit(w);
            return true;
        }));
        Assert.That(free.Wait(TimeSpan.FromSeconds(10)) && free.Result, Is.True, "every gate can be taken by another thread");
    }

    private static (LimitBatch Batch, SlidingWindow[] Windows) Batch(int count)
    {
        var batch = new LimitBatch();
        var windows = new SlidingWindow[count];
        for (var i = 0; i < count; i++)
        {
            batch.Add(LimitSpec.ForWorkspace("org" + i, 10, TimeSpan.FromMinutes(1)));
            windows[i] = new SlidingWindow(10, TimeSpan.FromMinutes(1));
            batch.State(i) = new LimitState { Holder = windows[i] };
        }

        return (batch, windows);
    }
}
