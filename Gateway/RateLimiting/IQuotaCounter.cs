namespace Gateway.RateLimiting;

/// <summary>Counts use of quotas and credits per calendar period, against an allowance given per call.</summary>
internal interface IQuotaCounter
{
    /// <summary>
    /// Charges every entry of <paramref name="batch"/>'s <see cref="LimitBatch.Quotas"/> its cost, or none, and
    /// fills their states. Completes synchronously whenever no store has to be asked. A refusal may leave a give-back
    /// to the store under way in <see cref="LimitBatch.GivingBack"/>, for the caller to await before it answers.
    /// </summary>
    ValueTask<bool> ChargeAsync(LimitBatch batch, CancellationToken cancellationToken);

    /// <summary>
    /// Fills what each entry of <paramref name="batch"/>'s <see cref="LimitBatch.Quotas"/> has left, charging
    /// nothing: for the headers of a request another limit refused. False when a counter's count is not known.
    /// </summary>
    ValueTask<bool> PeekAsync(LimitBatch batch, CancellationToken cancellationToken);

    /// <summary>What a counter has counted (for the admin API; may ask the store).</summary>
    Task<long> UsedAsync(string partition, CancellationToken cancellationToken);

    /// <summary>Adds <paramref name="delta"/> to a counter (negative gives allowance back), for the credits call of the admin API.</summary>
    Task<long> AdjustAsync(string partition, long delta, DateTimeOffset? expiresAt, CancellationToken cancellationToken);
}
