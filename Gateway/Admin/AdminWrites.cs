using Gateway.Stores;

namespace Gateway.Admin;

/// <summary>
/// Runs a state-changing admin call to its end once its request has been read, bounded by a server-side
/// timeout instead of the client's connection: a revoke must not be undone because the operator's client
/// (or a proxy in between) gave up while the store was answering. The client learns the outcome by
/// reading the key again; a write cut off half-way would leave it guessing.
/// </summary>
internal static class AdminWrites
{
    /// <summary>Far above a store call's own bound (<c>Gateway:Store:Timeout</c>, retried): only a hung call reaches it.</summary>
    public static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    public static async Task<T> RunAsync<T>(HttpContext context, Func<CancellationToken, Task<T>> write)
    {
        var time = context.RequestServices.GetRequiredService<TimeProvider>();
        using var timeout = new CancellationTokenSource(Timeout, time);
        try
        {
            return await write(timeout.Token);
        }
        catch (OperationCanceledException ex) when (timeout.IsCancellationRequested)
        {
            throw new StoreUnavailableException($"The admin call did not complete within {Timeout.TotalSeconds:0} s.", ex);
        }
    }
}
