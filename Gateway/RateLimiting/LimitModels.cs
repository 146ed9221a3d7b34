namespace Gateway.RateLimiting;

/// <summary>One limit that applies to a request: which kind, whose partition, how many per window.</summary>
internal readonly record struct LimitSpec(string Kind, string Partition, int PermitLimit, TimeSpan Window)
{
    public const string Ip = "ip";
    public const string Workspace = "workspace";
    public const string Route = "route";
    public const string Key = "key";
}

/// <summary>A limit's state after a decision: permits left and when the oldest counted request leaves the window.</summary>
internal readonly record struct LimitState(LimitSpec Spec, bool Allowed, int Remaining, TimeSpan ResetAfter);

internal sealed record LimitDecision(IReadOnlyList<LimitState> States)
{
    public bool Allowed => States.All(s => s.Allowed);

    public LimitState? Rejected => States.Where(s => !s.Allowed).Select(s => (LimitState?)s).FirstOrDefault();

    /// <summary>The state reported in X-RateLimit-*: the limit with the fewest permits left.</summary>
    public LimitState Tightest => States.MinBy(s => (s.Allowed ? 1 : 0, s.Remaining, s.Spec.PermitLimit));
}

/// <summary>Counts requests against limits. Acquire charges all the given limits together, or none.</summary>
internal interface IRateLimitCounter
{
    /// <summary>Whether a permit is available, without charging.</summary>
    ValueTask<LimitDecision> PeekAsync(IReadOnlyList<LimitSpec> limits, CancellationToken cancellationToken);

    /// <summary>Charges one permit of every limit if all have one, otherwise charges nothing.</summary>
    ValueTask<LimitDecision> AcquireAsync(IReadOnlyList<LimitSpec> limits, CancellationToken cancellationToken);
}
