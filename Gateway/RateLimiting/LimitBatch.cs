namespace Gateway.RateLimiting;

/// <summary>
/// The limits of one request and their states, held inline so that a decision allocates nothing.
/// Positions are named by <see cref="LimitSlot"/>: the IP limit first, then the request stage's limits.
/// </summary>
internal class LimitBatch
{
    internal LimitSpecBuffer Specs;
    internal LimitStateBuffer States;

    public int Count { get; set; }

    /// <summary>The customer's quota and the key's credits, charged after the rate limits (all or nothing with them).</summary>
    internal QuotaBatch Quotas;

    /// <summary>The quota and credits were charged, refused, or (when a rate limit refused) looked at, so their states are worth reporting.</summary>
    public bool QuotasDecided { get; set; }

    /// <summary>
    /// The IP limit could not be decided without a store trip, so it is charged with the request's other
    /// limits in one trip (or, if the request never gets there, in the background).
    /// </summary>
    public bool IpDeferred { get; set; }

    /// <summary>The per-instance permit that guards a deferred IP limit, so floods stay bounded meanwhile.</summary>
    public LimitState Guard;

    /// <summary>
    /// What a refused request gives back to a shared store (Redis) and is still on its way: permits of small limits
    /// and quota units its trip leased for it. Started together, so they share one round trip, and awaited by the
    /// caller before it answers (<see cref="GivenBackAsync"/>): a client told "refused" finds them back on every
    /// instance. Null on the common path.
    /// </summary>
    public Task? GivingBack { get; private set; }

    public void AddGiveBack(Task giveBack) => GivingBack = GivingBack is null ? giveBack : Task.WhenAll(GivingBack, giveBack);

    /// <summary>Waits for what <see cref="GivingBack"/> holds; completes at once when nothing is on its way.</summary>
    public ValueTask GivenBackAsync()
    {
        var giving = GivingBack;
        GivingBack = null;
        return giving is null || giving.IsCompletedSuccessfully ? default : new ValueTask(giving);
    }

    public ref LimitSpec Spec(int index) => ref Specs[index];

    public ref LimitState State(int index) => ref States[index];

    public void Add(in LimitSpec spec)
    {
        Specs[Count] = spec;
        States[Count] = default;
        Count++;
    }

    /// <summary>The limit with the fewest permits left among [from, to) (a refused one first): the one a client is told about.</summary>
    public int Tightest(int from, int to)
    {
        var best = from;
        for (var i = from + 1; i < to; i++)
        {
            if (Tighter(i, best))
            {
                best = i;
            }
        }

        return best;
    }

    /// <summary>
    /// Each limit among [from, to) that was charged has had its permit given back (a later limit, the quota or the
    /// store refused the request): its state then says what is left, not what would have been left had it gone through.
    /// </summary>
    public void GaveBack(int from, int to)
    {
        for (var i = from; i < to; i++)
        {
            ref var state = ref State(i);
            if (state.Allowed)
            {
                state.Remaining = Math.Min(Math.Max(0, state.Remaining) + 1, Spec(i).PermitLimit);
            }
        }
    }

    /// <summary>The refused limit that takes longest to give a permit back (Retry-After must cover every refused limit).</summary>
    public int LongestRefused(int from, int to)
    {
        var longest = -1;
        for (var i = from; i < to; i++)
        {
            if (!State(i).Allowed && (longest < 0 || State(i).ResetAfter > State(longest).ResetAfter))
            {
                longest = i;
            }
        }

        return longest;
    }

    private bool Tighter(int a, int b)
    {
        ref var x = ref State(a);
        ref var y = ref State(b);
        if (x.Allowed != y.Allowed)
        {
            return !x.Allowed;
        }

        return x.Remaining != y.Remaining ? x.Remaining < y.Remaining : Spec(a).PermitLimit < Spec(b).PermitLimit;
    }

    /// <summary>Empties the batch for another request.</summary>
    protected void Clear()
    {
        // The states hold the windows that were charged; drop them so a reused batch keeps nothing alive.
        ((Span<LimitState>)States)[..Count].Clear();
        Count = 0;
        Quotas = default;
        QuotasDecided = false;
        IpDeferred = false;
        Guard = default;
        GivingBack = null;
    }
}
