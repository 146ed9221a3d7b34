using System.Runtime.CompilerServices;

namespace Gateway.RateLimiting;

internal enum QuotaKind : byte
{
    /// <summary>A customer's quota per calendar period.</summary>
    Quota,

    /// <summary>A key's prepaid credits.</summary>
    Credits,
}

/// <summary>
/// One counter a request is charged against: a customer's quota for the current period, or a key's credits.
/// The counter counts what was used; <see cref="Limit"/> is the allowance, read from settings or the key on
/// every request, and not part of the counter's name, so changing a plan keeps what was already counted.
/// </summary>
internal struct QuotaCharge
{
    public QuotaKind Kind;

    /// <summary>The counter's name, e.g. <c>q:acme:cust_1:m202501</c> or <c>c:key_x:epoch:d20250131</c>.</summary>
    public string Partition;

    public long Limit;

    public int Cost;

    /// <summary>When the allowance starts afresh (period end), or null when it never does (credits without refill).</summary>
    public DateTimeOffset? ResetAt;

    /// <summary>When the counter may be dropped (after its period), or null to keep it.</summary>
    public DateTimeOffset? ExpiresAt;

    public string OrgId;
    public string? CustomerId;
    public string KeyId;

    // Filled by the counter.
    public bool Allowed;
    public long Remaining;
}

[InlineArray(Capacity)]
internal struct QuotaChargeBuffer
{
    // A customer's quota and a key's credits.
    public const int Capacity = 2;
    private QuotaCharge _element;
}

/// <summary>The quota and credits of one request, inline in its <see cref="LimitBatch"/>.</summary>
internal struct QuotaBatch
{
    public QuotaChargeBuffer Charges;

    public int Count;

    /// <summary>When the request was charged: periods and Retry-After count from here.</summary>
    public DateTimeOffset Now;

    /// <summary>
    /// The charge is given back right after (an uncharged verify call): counters report only the crossings that
    /// stay after the give-back, so a look at the counters never fires a webhook, nor makes a later request's
    /// real crossing fire a second one.
    /// </summary>
    public bool GivenBack;

    public void Add(in QuotaCharge charge)
    {
        Charges[Count] = charge;
        Count++;
    }

    public int IndexOf(QuotaKind kind)
    {
        for (var i = 0; i < Count; i++)
        {
            if (Charges[i].Kind == kind)
            {
                return i;
            }
        }

        return -1;
    }
}
