using System.Runtime.CompilerServices;

namespace Gateway.RateLimiting;

[InlineArray(LimitSpecBuffer.Capacity)]
internal struct LimitStateBuffer
{
    private LimitState _element;
}
