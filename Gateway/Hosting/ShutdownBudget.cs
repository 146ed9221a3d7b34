namespace Gateway.Hosting;

/// <summary>
/// How a stop (SIGTERM) spends its time: up to <see cref="Drain"/> for the requests in flight, then at least
/// <see cref="Flush"/> for the writes the finished ones left pending (usage counts, last-used times, the request log).
/// The host's <c>ShutdownTimeout</c> is one budget for the web server's stop and every hosted service's, so a drain
/// that used all of it left the flushes a cancelled token and lost what requests that had long finished had counted.
/// </summary>
internal sealed record ShutdownBudget(TimeSpan Drain, TimeSpan Flush)
{
    /// <summary>20 s for requests (what the deployment manifests' grace periods are sized for), then 5 s for writes.</summary>
    public static readonly ShutdownBudget Default = new(TimeSpan.FromSeconds(20), TimeSpan.FromSeconds(5));

    /// <summary>The host's <c>ShutdownTimeout</c>: the whole stop.</summary>
    public TimeSpan Total => Drain + Flush;
}
