using Gateway.Configuration;
using Gateway.Customers;
using Gateway.Domain;
using System.Runtime.CompilerServices;
using Microsoft.Extensions.Options;

namespace Gateway.RateLimiting;

internal enum ChargeOutcome
{
    Allowed,
    RateLimited,
    QuotaExceeded,
    CreditsExhausted,
}

/// <summary>
/// The one decision whether a keyed request may go on: its workspace or route limit, its customer's rate limit,
/// its own rate limit, its customer's quota and its credits, charged all or nothing. The proxy's request stage
/// and any other caller that admits requests by key use it, so they decide alike.
/// </summary>
/// <remarks>
/// The sliding-window limits are charged first (one batch, all or nothing), then the quota and credits (one
/// batch, all or nothing); when the second refuses, the first is given back. Neither asks a store on a typical
/// request: both counters lease from Redis.
/// </remarks>
internal sealed class LimitCharger(
    IRateLimitCounter counter,
    IQuotaCounter quotas,
    RateLimitPolicyResolver policies,
    CustomerDirectory customers,
    IOptionsMonitor<GatewayOptions> options,
    TimeProvider time)
{
    /// <summary>
    /// Adds <paramref name="key"/>'s limits to <paramref name="batch"/> and charges them, together with
    /// <paramref name="batch"/>[<paramref name="from"/>..] already in it (a deferred IP permit). On a refusal
    /// nothing from <paramref name="from"/> on stays charged; the caller gives back what it took before, and awaits what
    /// goes back to Redis (the batch's GivingBack) before it answers.
    /// </summary>
    public ValueTask<ChargeOutcome> ChargeAsync(LimitBatch batch, CachedKey key, string? policyName, int cost, int from, CancellationToken cancellationToken)
    {
        if (key.CustomerId is not { } customerId)
        {
            return ChargeAsync(batch, key, null, policyName, cost, from, cancellationToken);
        }

        var lookup = customers.FindAsync(key.OrgId, customerId, cancellationToken);
        return lookup.IsCompletedSuccessfully
            ? ChargeAsync(batch, key, lookup.Result, policyName, cost, from, cancellationToken)
            : AwaitCustomerAsync(lookup, batch, key, policyName, cost, from, cancellationToken);
    }

    /// <summary>The counter names and allowances a key's request is charged against right now.</summary>
    public void AddQuotas(ref QuotaBatch batch, CachedKey key, Customer? customer, int cost, DateTimeOffset now)
    {
        batch.Now = now;
        if (customer is not null && EffectiveQuota(customer, options.CurrentValue) is { } quota)
        {
            batch.Add(QuotaCharge(customer, quota, key.Id, cost, now));
        }

        if (key.Credits is { } credits)
        {
            batch.Add(CreditsCharge(key, credits, cost, now));
        }
    }

    public static CustomerQuota? EffectiveQuota(Customer customer, GatewayOptions settings)
    {
        if (customer.Quota is { } own)
        {
            return own;
        }

        if (customer.Plan is null)
        {
            return null;
        }

        // A plan's quota is read from the settings once per customer and settings (a reload binds new ones).
        if (PlanQuotas.TryGetValue(customer, out var memo) && ReferenceEquals(memo.Settings, settings))
        {
            return memo.Quota;
        }

        var quota = settings.Plans.TryGetValue(customer.Plan, out var p) && p.Quota is { } q && QuotaPeriods.TryParse(q.Period, out var period)
            ? new CustomerQuota(q.Limit, period)
            : null;
        PlanQuotas.AddOrUpdate(customer, new PlanQuotaMemo(settings, quota));
        return quota;
    }

    public static KeyRateLimit? EffectiveRateLimit(Customer customer, GatewayOptions settings) =>
        customer.RateLimit ?? (customer.Plan is { } plan && settings.Plans.TryGetValue(plan, out var p) && p.RateLimit is { } r
            ? new KeyRateLimit(r.PermitLimit, r.Window)
            : null);

    public static QuotaCharge QuotaCharge(Customer customer, CustomerQuota quota, string? keyId, int cost, DateTimeOffset now)
    {
        var end = QuotaPeriods.End(quota.Period, now);
        return new QuotaCharge
        {
            Kind = QuotaKind.Quota,
            Partition = QuotaPartition(customer, QuotaPeriods.Key(quota.Period, now)),
            Limit = quota.Limit,
            Cost = cost,
            ResetAt = end,
            ExpiresAt = end.AddDays(1),
            OrgId = customer.OrgId,
            CustomerId = customer.Id,
            KeyId = keyId ?? "",
        };
    }

    /// <summary>
    /// A key's credits: counted per refill period under the epoch of their last set, against what was set
    /// (in the period they were set in) or the refill amount (in every later period).
    /// </summary>
    public static QuotaCharge CreditsCharge(ApiKeyRecord key, KeyCredits credits, int cost, DateTimeOffset now) =>
        CreditsCharge(key.Id, key.OrgId, key.CustomerId, credits, cost, now);

    /// <summary>As above, for a key the request path holds (the same counter names).</summary>
    public static QuotaCharge CreditsCharge(CachedKey key, KeyCredits credits, int cost, DateTimeOffset now) =>
        CreditsCharge(key.Id, key.OrgId, key.CustomerId, credits, cost, now);

    private static QuotaCharge CreditsCharge(string keyId, string orgId, string? customerId, KeyCredits credits, int cost, DateTimeOffset now)
    {
        var refill = credits.Refill;
        var period = refill is null ? "all" : QuotaPeriods.Key(refill.Period, now);
        var end = refill is null ? (DateTimeOffset?)null : QuotaPeriods.End(refill.Period, now);
        if (!CreditPartitions.TryGetValue(credits, out var memo) || !string.Equals(memo.Period, period, StringComparison.Ordinal) || !string.Equals(memo.KeyId, keyId, StringComparison.Ordinal))
        {
            var allowance = refill is null || QuotaPeriods.Key(refill.Period, credits.SetAt) == period ? credits.Remaining : refill.Amount;
            memo = new CreditMemo(keyId, period, $"c:{keyId}:{credits.Epoch}:{period}", allowance);
            CreditPartitions.AddOrUpdate(credits, memo);
        }

        return new QuotaCharge
        {
            Kind = QuotaKind.Credits,
            Partition = memo.Partition,
            Limit = memo.Allowance,
            Cost = cost,

            // When credits come back enough for this request: never, unless a refill covers its cost (Retry-After).
            ResetAt = refill is not null && refill.Amount >= cost ? end : null,
            ExpiresAt = end?.AddDays(1),
            OrgId = orgId,
            CustomerId = customerId,
            KeyId = keyId,
        };
    }

    // Counter names, remembered per customer and per key's credits for the period they were made in: every
    // metered request needs them, and formatting them each time was most of what a quota cost per request.
    // Weak tables: an entry lives as long as the cached customer or key it belongs to.
    private static readonly ConditionalWeakTable<Customer, PartitionMemo> QuotaPartitions = new();
    private static readonly ConditionalWeakTable<KeyCredits, CreditMemo> CreditPartitions = new();
    private static readonly ConditionalWeakTable<Customer, PlanQuotaMemo> PlanQuotas = new();

    private static string QuotaPartition(Customer customer, string period)
    {
        if (QuotaPartitions.TryGetValue(customer, out var memo) && string.Equals(memo.Period, period, StringComparison.Ordinal))
        {
            return memo.Partition;
        }

        var partition = $"q:{customer.OrgId}:{customer.Id}:{period}";
        QuotaPartitions.AddOrUpdate(customer, new PartitionMemo(period, partition));
        return partition;
    }

    private sealed record PartitionMemo(string Period, string Partition);

    private sealed record CreditMemo(string KeyId, string Period, string Partition, long Allowance);

    private sealed record PlanQuotaMemo(GatewayOptions Settings, CustomerQuota? Quota);

    private async ValueTask<ChargeOutcome> AwaitCustomerAsync(ValueTask<Customer?> lookup, LimitBatch batch, CachedKey key, string? policyName, int cost, int from, CancellationToken cancellationToken) =>
        await ChargeAsync(batch, key, await lookup, policyName, cost, from, cancellationToken);

    private ValueTask<ChargeOutcome> ChargeAsync(LimitBatch batch, CachedKey key, Customer? customer, string? policyName, int cost, int from, CancellationToken cancellationToken)
    {
        var settings = options.CurrentValue;
        policies.AddRequestLimits(batch, key, policyName, customer is null ? null : EffectiveRateLimit(customer, settings), customer?.Id);
        AddQuotas(ref batch.Quotas, key, customer, cost, time.GetUtcNow());
        if (batch.Count == from)
        {
            return ChargeQuotasAsync(batch, from, cancellationToken);
        }

        var limits = counter.AcquireAsync(batch, from, cancellationToken);
        if (!limits.IsCompletedSuccessfully)
        {
            return AwaitLimitsAsync(limits, batch, from, cancellationToken);
        }

        return limits.Result ? ChargeQuotasAsync(batch, from, cancellationToken) : PeekQuotasAsync(batch, cancellationToken);
    }

    private async ValueTask<ChargeOutcome> AwaitLimitsAsync(ValueTask<bool> limits, LimitBatch batch, int from, CancellationToken cancellationToken) =>
        await limits ? await ChargeQuotasAsync(batch, from, cancellationToken) : await PeekQuotasAsync(batch, cancellationToken);

    /// <summary>
    /// A rate limit refused: the quota and credits are not charged, but what they have left is known, and every keyed
    /// response reports it (<c>X-Quota-*</c>, <c>X-Credits-Remaining</c>).
    /// </summary>
    private ValueTask<ChargeOutcome> PeekQuotasAsync(LimitBatch batch, CancellationToken cancellationToken)
    {
        if (batch.Quotas.Count == 0)
        {
            return ValueTask.FromResult(ChargeOutcome.RateLimited);
        }

        var peek = quotas.PeekAsync(batch, cancellationToken);
        if (peek.IsCompletedSuccessfully)
        {
            batch.QuotasDecided = peek.Result;
            return ValueTask.FromResult(ChargeOutcome.RateLimited);
        }

        return AwaitPeekAsync(peek, batch);
    }

    private static async ValueTask<ChargeOutcome> AwaitPeekAsync(ValueTask<bool> peek, LimitBatch batch)
    {
        batch.QuotasDecided = await peek;
        return ChargeOutcome.RateLimited;
    }

    private ValueTask<ChargeOutcome> ChargeQuotasAsync(LimitBatch batch, int from, CancellationToken cancellationToken)
    {
        if (batch.Quotas.Count == 0)
        {
            return ValueTask.FromResult(ChargeOutcome.Allowed);
        }

        var charged = quotas.ChargeAsync(batch, cancellationToken);
        return charged.IsCompletedSuccessfully ? ValueTask.FromResult(Outcome(batch, from, charged.Result)) : AwaitQuotasAsync(charged, batch, from);
    }

    private async ValueTask<ChargeOutcome> AwaitQuotasAsync(ValueTask<bool> charged, LimitBatch batch, int from) =>
        Outcome(batch, from, await charged);

    private ChargeOutcome Outcome(LimitBatch batch, int from, bool allowed)
    {
        batch.QuotasDecided = true;
        if (allowed)
        {
            return ChargeOutcome.Allowed;
        }

        // All or nothing: the rate limits this call charged are given back.
        counter.Release(batch, from, batch.Count);
        var outcome = Refusal(ref batch.Quotas);

        // What an instance shows as left is its own view (on Redis: its last trip or look less what it handed out
        // since), which can be behind what another instance used; the refusal is not. So the refused counter never
        // claims the request's cost is left: a 429 credits_exhausted saying "X-Credits-Remaining: 9" to a request
        // costing 1 contradicts itself.
        ref var refused = ref batch.Quotas.Charges[batch.Quotas.IndexOf(outcome == ChargeOutcome.CreditsExhausted ? QuotaKind.Credits : QuotaKind.Quota)];
        refused.Remaining = Math.Min(refused.Remaining, Math.Max(0, refused.Cost - 1));
        return outcome;
    }

    private static ChargeOutcome Refusal(ref QuotaBatch quotas)
    {
        var credits = quotas.IndexOf(QuotaKind.Credits);
        var quota = quotas.IndexOf(QuotaKind.Quota);
        if (credits < 0 || quotas.Charges[credits].Allowed)
        {
            return ChargeOutcome.QuotaExceeded;
        }

        if (quota < 0 || quotas.Charges[quota].Allowed)
        {
            return ChargeOutcome.CreditsExhausted;
        }

        // Both refused: name the one that takes longer to come back (credits without refill never do).
        var creditsReset = quotas.Charges[credits].ResetAt ?? DateTimeOffset.MaxValue;
        return creditsReset > quotas.Charges[quota].ResetAt ? ChargeOutcome.CreditsExhausted : ChargeOutcome.QuotaExceeded;
    }
}
