namespace Gateway.RateLimiting;

/// <summary>
/// A limit's state after a decision: whether it had a permit, permits left, and when the oldest counted
/// request leaves the window. <see cref="Holder"/> and <see cref="Ticket"/> let the counter that charged
/// the permit give it back.
/// </summary>
internal struct LimitState
{
    public bool Allowed;
    public int Remaining;
    public TimeSpan ResetAfter;
    public object? Holder;
    public long Ticket;
}
