using Gateway.Domain;

namespace Gateway.Customers;

/// <summary>
/// A customer of an organization: the keys whose <c>customerId</c> names it share its rate limit and quota.
/// Its own <see cref="RateLimit"/> and <see cref="Quota"/> override those of its <see cref="Plan"/>.
/// </summary>
internal sealed record Customer(
    string OrgId,
    string Id,
    string Name,
    string? Plan,
    KeyRateLimit? RateLimit,
    CustomerQuota? Quota,
    DateTimeOffset CreatedAt,
    DateTimeOffset UpdatedAt);

/// <summary>At most <see cref="Limit"/> requests (route costs summed) per calendar <see cref="Period"/> in UTC.</summary>
internal sealed record CustomerQuota(long Limit, QuotaPeriod Period);
