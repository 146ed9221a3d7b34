using Gateway.Observability;
using StackExchange.Redis;

namespace Gateway.Stores;

/// <summary>
/// One view, for the whole process, of whether the shared store (Redis) answers, and the bound on each of its calls
/// on the request path: key and customer reads, rate-limit and quota leases, /readyz. A call gets
/// <c>Store:Timeout</c>, timed here: StackExchange.Redis checks its own timeouts on a one-second heartbeat, so with a
/// 1 s timeout a call to a frozen Redis failed after 1-2 s. The first call Redis does not answer in time (or at all:
/// connection lost, refused) opens the circuit: the calls still waiting end at once, and every later call fails at
/// once with <see cref="StoreUnavailableException"/>, so its caller takes its fallback (cached keys and customers,
/// per-instance limits and quotas) without waiting. A probe, one at a time in the background, asks the store every
/// <see cref="ProbeEvery"/> and closes the circuit when it answers: no request is the probe, so no request pays a
/// timeout while Redis stays down.
/// </summary>
/// <remarks>
/// Before, the limiter, the quota counter and the key and customer caches each had their own notion of "down" (a
/// second of per-instance fallback, a Polly breaker that opened after five failures): each paid its own timeouts, and
/// every time one of them tried Redis again a new wave of requests waited, for 1-3 s. A server that answers with an
/// error (a script error, a refused command) is answering: that fails only its own call and leaves the circuit closed.
/// </remarks>
internal sealed partial class StoreCircuit : IDisposable
{
    internal static readonly TimeSpan ProbeEvery = TimeSpan.FromMilliseconds(250);

    private readonly TimeSpan _timeout;
    private readonly Func<CancellationToken, Task> _probe;
    private readonly ILogger _logger;
    private readonly CancellationTokenSource _stopping = new();
    private readonly Lock _lock = new();

    // Cancelled when the circuit opens, which ends every call still waiting; replaced when it closes.
    private CancellationTokenSource _answering = new();
    private volatile bool _open;

    /// <param name="timeout"><c>Store:Timeout</c>: how long one call may wait.</param>
    /// <param name="probe">A cheap call that succeeds when the store answers (the store's ping).</param>
    public StoreCircuit(TimeSpan timeout, Func<CancellationToken, Task> probe, ILogger<StoreCircuit> logger)
    {
        _timeout = timeout;
        _probe = probe;
        _logger = logger;
    }

    /// <summary>Calls fail at once: the store did not answer, and no probe has found it answering since.</summary>
    public bool IsOpen => _open;

    /// <summary>
    /// Runs <paramref name="call"/> with a token that ends at the store timeout, when the circuit opens, or with
    /// <paramref name="cancellationToken"/>; a call that does not observe it is waited for no longer either way.
    /// </summary>
    /// <exception cref="StoreUnavailableException">The circuit is open, or the store did not answer.</exception>
    public async Task<T> RunAsync<T>(Func<CancellationToken, Task<T>> call, CancellationToken cancellationToken = default)
    {
        var answering = Volatile.Read(ref _answering);
        if (_open || answering.IsCancellationRequested)
        {
            throw new StoreUnavailableException("The store is not answering; it is not asked again until a probe finds it answering.");
        }

        using var bounded = CancellationTokenSource.CreateLinkedTokenSource(answering.Token, cancellationToken);
        bounded.CancelAfter(_timeout);
        try
        {
            return await call(bounded.Token).WaitAsync(bounded.Token);
        }
        catch (Exception ex) when (!cancellationToken.IsCancellationRequested && NotAnswered(ex))
        {
            // Ended because another call opened the circuit: nothing new to report.
            var first = !answering.IsCancellationRequested;
            if (first)
            {
                Open(answering, ex);
            }

            throw ex as StoreUnavailableException
                ?? new StoreUnavailableException(first ? "The store did not answer in time." : "The store is not answering.", ex);
        }
    }

    /// <inheritdoc cref="RunAsync{T}(Func{CancellationToken, Task{T}}, CancellationToken)"/>
    public Task RunAsync(Func<CancellationToken, Task> call, CancellationToken cancellationToken = default) =>
        RunAsync(async ct =>
        {
            await call(ct);
            return true;
        }, cancellationToken);

    public void Dispose()
    {
        _stopping.Cancel();
        _stopping.Dispose();
    }

    /// <summary>
    /// The store did not answer: the call's time ran out or the circuit opened under it (cancelled), or the client gave
    /// up on the connection (cancelled too, or a store failure). An error the server sent back is an answer.
    /// </summary>
    private static bool NotAnswered(Exception ex) => ex switch
    {
        OperationCanceledException => true,
        StoreUnavailableException { InnerException: RedisServerException } => false,
        StoreUnavailableException or RedisConnectionException or TimeoutException => true,
        _ => false,
    };

    private void Open(CancellationTokenSource answering, Exception ex)
    {
        lock (_lock)
        {
            // Another call opened it first, or it has closed and opened since this call began.
            if (_open || !ReferenceEquals(_answering, answering))
            {
                return;
            }

            _open = true;
        }

        Log.NotAnswering(_logger, _timeout.TotalMilliseconds, ex);

        // The calls still waiting end now rather than each at its own deadline; their continuations run on the pool,
        // not on this request's thread.
        _ = answering.CancelAsync();
        _ = ProbeAsync();
    }

    private async Task ProbeAsync()
    {
        var stopping = _stopping.Token;
        var started = Environment.TickCount64;
        try
        {
            while (true)
            {
                await Task.Delay(ProbeEvery, stopping);
                try
                {
                    using var bounded = CancellationTokenSource.CreateLinkedTokenSource(stopping);
                    bounded.CancelAfter(_timeout);
                    await _probe(bounded.Token).WaitAsync(bounded.Token);
                    break;
                }
                catch (Exception) when (!stopping.IsCancellationRequested)
                {
                    // Still not answering: the circuit stays open, and the next probe goes after a pause.
                }
            }
        }
        catch (OperationCanceledException) when (stopping.IsCancellationRequested)
        {
            return;
        }
        catch (ObjectDisposedException)
        {
            return; // the host is stopping
        }

        lock (_lock)
        {
            _answering = new CancellationTokenSource();
            _open = false;
        }

        Log.AnsweringAgain(_logger, Environment.TickCount64 - started);
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = EventIds.StoreNotAnswering, Level = LogLevel.Warning, Message = "The store did not answer within {TimeoutMs} ms; request-path calls use their fallbacks until a probe finds it answering.")]
        public static partial void NotAnswering(ILogger logger, double timeoutMs, Exception exception);

        [LoggerMessage(EventId = EventIds.StoreAnsweringAgain, Level = LogLevel.Information, Message = "The store answers again after {Milliseconds} ms; request-path calls go to it again.")]
        public static partial void AnsweringAgain(ILogger logger, long milliseconds);
    }
}
