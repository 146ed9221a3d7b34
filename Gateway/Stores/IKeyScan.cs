using Gateway.Domain;

namespace Gateway.Stores;

/// <summary>
/// Keys read in bulk, for a key cache warming itself at start (<c>Gateway:Cache:WarmUp</c>) instead of one store read
/// per key on its first request. Implemented by both stores; the request path never calls it.
/// </summary>
internal interface IKeyScan
{
    /// <summary>
    /// The keys that can open a request at <paramref name="now"/> (active and not expired), most recently used
    /// first, then those never used; at most <paramref name="max"/>. Read as they are enumerated, so a caller
    /// that stops early reads no more than it took.
    /// </summary>
    IAsyncEnumerable<ApiKeyRecord> ReadUsableKeysAsync(DateTimeOffset now, int max, CancellationToken cancellationToken);
}
