namespace Gateway.RateLimiting;

/// <summary>
/// What a limit decision locks: a local window or a Redis lease. Each has a fixed place in one order,
/// so a decision that locks several (a request's IP, workspace and key limits) takes them in that order
/// and two decisions sharing some can never deadlock. The lock is the holder itself (<see cref="Monitor"/>,
/// taken with <c>lock (holder)</c>): a thin lock in the object header costs no allocation, where a separate
/// lock object per holder cost 40 bytes for every client IP the gateway keeps a window for.
/// </summary>
internal abstract class OrderedGate
{
    private static long s_order;

    public long Order { get; } = Interlocked.Increment(ref s_order);

    /// <summary>Set when the holder was dropped from its counter; a caller that still holds it looks again.</summary>
    public bool Retired { get; set; }

    /// <summary>
    /// Locks the holders of <paramref name="batch"/> at the indices in <paramref name="order"/> (sorted here
    /// by <see cref="Order"/>). Returns false, holding nothing, when one of them was retired meanwhile.
    /// </summary>
    public static bool TryEnterAll(LimitBatch batch, Span<int> order)
    {
        // Insertion sort of at most three (a batch holds the IP, route or workspace, and key limits).
        for (var i = 1; i < order.Length; i++)
        {
            for (var j = i; j > 0 && At(batch, order[j - 1]).Order > At(batch, order[j]).Order; j--)
            {
                (order[j - 1], order[j]) = (order[j], order[j - 1]);
            }
        }

        var retired = false;
        foreach (var index in order)
        {
            var holder = At(batch, index);
            Monitor.Enter(holder);
            retired |= holder.Retired;
        }

        if (retired)
        {
            ExitAll(batch, order);
        }

        return !retired;
    }

    public static void ExitAll(LimitBatch batch, ReadOnlySpan<int> order)
    {
        for (var i = order.Length - 1; i >= 0; i--)
        {
            Monitor.Exit(At(batch, order[i]));
        }
    }

    private static OrderedGate At(LimitBatch batch, int index) => (OrderedGate)batch.State(index).Holder!;
}
