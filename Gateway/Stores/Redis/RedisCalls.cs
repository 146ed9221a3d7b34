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
        catch (RedisException ex)
        {
            throw new StoreUnavailableException("Redis did not answer.", ex);
        }
        catch (TimeoutException ex)
        {
            throw new StoreUnavailableException("Redis did not answer in time.", ex);
        }
    }

    public static Task Guard(Func<Task> call, CancellationToken cancellationToken = default) =>
        Guard(async () =>
        {
            await call();
            return true;
        }, cancellationToken);
}
