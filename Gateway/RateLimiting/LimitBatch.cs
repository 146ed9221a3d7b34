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

    /// <summary>The quota and credits were charged or refused, so their states are worth reporting.</summary>
    public bool QuotasDecided { get; set; }

    /// <summary>
    /// The IP limit could not be decided without a store trip, so it is charged with the request's other
    /// limits in one trip (or, if the request never gets there, in the background).
    /// </summary>
    public bool IpDeferred { get; set; }

    /// <summary>The per-instance permit that guards a deferred IP limit, so floods stay bounded meanwhile.</summary>
    public LimitState Guard;

    public ref LimitSpec Spec(int index) => ref Specs[index];

    public ref LimitState State(int index) => ref States[index];

    public void Add(in LimitSpec spec)
    {
        Specs[Count] = spec;
        States[Count] = default;
        Count++;
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
    }
}
