using StackExchange.Redis;

namespace Gateway.Stores.Redis;

/// <summary>What every Redis-backed store does around a call.</summary>
internal static class RedisCalls
{
    /// <summary>Every Redis failure surfaces as <see cref="StoreUnavailableException"/>, the store interface's word for "could not answer".</summary>
    public static async Task<T> Guard<T>(Func<Task<T>> call, CancellationToken cancellationToken = default)
    {
        try
        {
            // StackExchange.Redis takes no token; waiting on ours lets Polly's timeout end the call.
            return await call().WaitAsync(cancellationToken);
        }
        catch (Exception ex) when (IsFailure(ex, cancellationToken))
        {
            throw Unavailable(ex);
        }
    }

    /// <summary>
    /// Whether <paramref name="ex"/>, thrown by a StackExchange.Redis call, means Redis could not answer. Besides its own
    /// exceptions and timeouts, a connection torn down under a call (Redis frozen, then the socket given up) fails the
    /// call's task as cancelled, or with the pipe's "reading is not allowed after reader was completed": neither says
    /// anything about the request, and each let a request end in a 500. Only a cancellation of the caller's own token
    /// stays what it is.
    /// </summary>
    public static bool IsFailure(Exception ex, CancellationToken cancellationToken = default) => ex switch
    {
        RedisException or TimeoutException => true,
        OperationCanceledException => !cancellationToken.IsCancellationRequested,
        InvalidOperationException or ObjectDisposedException or IOException => true,
        _ => false,
    };

    public static StoreUnavailableException Unavailable(Exception ex) =>
        new(ex is TimeoutException ? "Redis did not answer in time." : "Redis did not answer.", ex);

    public static Task Guard(Func<Task> call, CancellationToken cancellationToken = default) =>
        Guard(async () =>
        {
            await call();
            return true;
        }, cancellationToken);
}
