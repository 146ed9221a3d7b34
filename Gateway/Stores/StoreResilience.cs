using Gateway.Configuration;
using Microsoft.Extensions.Options;
using Polly;
using Polly.CircuitBreaker;
using Polly.Timeout;

namespace Gateway.Stores;

/// <summary>
/// Bounds every store call on the request path: a timeout so a hung store costs at most
/// <c>Store:Timeout</c>, and a circuit breaker so that while the store is down requests fail in
/// microseconds instead of each waiting out the timeout. Both surface as <see cref="StoreUnavailableException"/>.
/// </summary>
internal sealed class StoreResilience
{
    public StoreResilience(IOptions<GatewayOptions> options, TimeProvider time)
    {
        var timeout = options.Value.Store.Timeout;
        Pipeline = new ResiliencePipelineBuilder { TimeProvider = time }
            .AddCircuitBreaker(new CircuitBreakerStrategyOptions
            {
                FailureRatio = 0.5,
                MinimumThroughput = 5,
                SamplingDuration = TimeSpan.FromSeconds(10),
                BreakDuration = TimeSpan.FromSeconds(1),
                ShouldHandle = new PredicateBuilder().Handle<Exception>(ex => ex is not (StoreConflictException or StoreConcurrencyException or ArgumentException)),
            })
            .AddTimeout(new TimeoutStrategyOptions { Timeout = timeout })
            .Build();
    }

    public ResiliencePipeline Pipeline { get; }

    /// <remarks>
    /// A database driver's own error (SQLite busy past its timeout, a store file gone from under the process)
    /// counts too: the caller cannot fix it by changing the request, so it is a 503, never a 500. So does a Redis
    /// client error that a feature's store let through unwrapped.
    /// </remarks>
    public static bool IsUnavailable(Exception ex) =>
        ex is StoreUnavailableException or TimeoutRejectedException or BrokenCircuitException or System.Data.Common.DbException
            or StackExchange.Redis.RedisException or TimeoutException;
}
