using Gateway.Configuration;
using Microsoft.Extensions.Options;
using Polly;
using Polly.CircuitBreaker;
using Polly.Timeout;

namespace Gateway.Stores;

/// <summary>
/// Bounds every store call on the request path: a timeout so a hung store costs at most
/// <c>Store:Timeout</c>, and a circuit breaker so that while the store is down requests fail in
/// microseconds instead of each waiting out the timeout. Both surface as <see cref="StoreUnavailableException"/>
/// (or Polly's own exceptions, which <see cref="IsUnavailable"/> reads the same way). On Redis that is the process's
/// one <see cref="StoreCircuit"/>, shared with the rate-limit and quota leases; on the embedded store a Polly pipeline.
/// </summary>
internal sealed class StoreResilience
{
    private readonly StoreCircuit? _circuit;
    private readonly ResiliencePipeline _pipeline;

    public StoreResilience(IOptions<GatewayOptions> options, TimeProvider time, StoreCircuit? circuit = null)
    {
        _circuit = circuit;
        var timeout = options.Value.Store.Timeout;
        _pipeline = new ResiliencePipelineBuilder { TimeProvider = time }
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

    /// <summary>Runs one store call within <c>Store:Timeout</c>, or fails it at once while the store is known to be down.</summary>
    public Task<T> ExecuteAsync<TState, T>(Func<TState, CancellationToken, Task<T>> call, TState state, CancellationToken cancellationToken)
    {
        if (_circuit is { } circuit)
        {
            return circuit.RunAsync(ct => call(state, ct), cancellationToken);
        }

        return _pipeline.ExecuteAsync(static async (s, ct) => await s.call(s.state, ct), (call, state), cancellationToken).AsTask();
    }

    /// <inheritdoc cref="ExecuteAsync{TState, T}(Func{TState, CancellationToken, Task{T}}, TState, CancellationToken)"/>
    public Task ExecuteAsync<TState>(Func<TState, CancellationToken, Task> call, TState state, CancellationToken cancellationToken) =>
        ExecuteAsync(static async (s, ct) =>
        {
            await s.call(s.state, ct);
            return true;
        }, (call, state), cancellationToken);

    /// <remarks>
    /// A database driver's own error (SQLite busy past its timeout, a store file gone from under the process)
    /// counts too: the caller cannot fix it by changing the request, so it is a 503, never a 500. So does a Redis
    /// client error that a feature's store let through unwrapped.
    /// </remarks>
    public static bool IsUnavailable(Exception ex) =>
        ex is StoreUnavailableException or TimeoutRejectedException or BrokenCircuitException or System.Data.Common.DbException
            or StackExchange.Redis.RedisException or TimeoutException;
}
