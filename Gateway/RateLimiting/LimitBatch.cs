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
        IpDeferred = false;
        Guard = default;
    }
}
