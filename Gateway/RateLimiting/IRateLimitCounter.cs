namespace Gateway.RateLimiting;

/// <summary>Counts requests against limits.</summary>
internal interface IRateLimitCounter
{
    /// <summary>
    /// False when no call keeps a reference to its batch once it has returned (or its task has completed),
    /// so a batch may be reused for the next request.
    /// </summary>
    bool HoldsBatches { get; }

    /// <summary>Takes a permit of the IP limit (<paramref name="batch"/>[<see cref="LimitSlot.Ip"/>]) without waiting for a store.</summary>
    IpDecision AcquireIp(LimitBatch batch);

    /// <summary>Charges a deferred IP limit of a request that never reached the request stage (refused by authentication, aborted).</summary>
    void SettleDeferredIp(LimitBatch batch);

    /// <summary>
    /// Takes one permit of every limit in <paramref name="batch"/>[<paramref name="from"/>..Count], or none,
    /// and fills their states. Completes synchronously whenever no store has to be asked.
    /// </summary>
    ValueTask<bool> AcquireAsync(LimitBatch batch, int from, CancellationToken cancellationToken);

    /// <summary>
    /// Gives back the permits an allowed decision took for <paramref name="batch"/>[<paramref name="from"/>..<paramref name="to"/>).
    /// Those of limits that behave as one shared counter go back to the shared store: the calls are started here and
    /// left in <see cref="LimitBatch.GivingBack"/>, for the caller to await before it answers.
    /// </summary>
    void Release(LimitBatch batch, int from, int to);
}
