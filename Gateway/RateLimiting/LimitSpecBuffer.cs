using System.Runtime.CompilerServices;

namespace Gateway.RateLimiting;

[InlineArray(Capacity)]
internal struct LimitSpecBuffer
{
    // The most a request has: the IP limit, the route policy or the workspace limit, the customer's, and the
    // key's own. Every slot is allocated with each request's feature, so there is no spare one.
    public const int Capacity = 4;
    private LimitSpec _element;
}
