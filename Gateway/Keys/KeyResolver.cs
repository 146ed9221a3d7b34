using System.Collections.Concurrent;
using Gateway.Configuration;
using Gateway.Domain;
using Gateway.Observability;
using Gateway.Stores;
using Microsoft.Extensions.Caching.Memory;
using Microsoft.Extensions.Options;
using Polly;

namespace Gateway.Keys;

/// <summary>
/// Resolves a key hash to its record through a bounded in-process cache in front of the store.
/// Entries are fresh for <c>Cache:FreshFor</c>; after that the store is asked again, and only when the
/// store cannot answer is the entry served stale (up to <c>Cache:StaleFor</c>), so keys already known keep
/// working through an outage and revocations already seen stay in force. Concurrent misses for one hash
/// share a single store read.
/// </summary>
internal sealed class KeyResolver : IDisposable
{
    private readonly IKeyLookup _store;
    private readonly TimeProvider _time;
    private readonly CacheOptions _options;
    private readonly ResiliencePipeline _resilience;
    private readonly GatewayMetrics _metrics;
    private readonly MemoryCache _cache;
    private readonly ConcurrentDictionary<string, Lazy<Task<CacheEntry>>> _inflight = new(StringComparer.Ordinal);

    // Bumped by every invalidation. A store read that started before an invalidation must not put
    // what it read into the cache, or a revoked key could come back for a whole fresh period.
    private long _generation;

    // Entries loaded before this instant are never fresh (see MarkAllStale).
    private long _staleBeforeTicks;

    public KeyResolver(IKeyLookup store, IOptions<GatewayOptions> options, TimeProvider time, StoreResilience resilience, GatewayMetrics metrics)
    {
        _store = store;
        _time = time;
        _options = options.Value.Cache;
        _resilience = resilience.Pipeline;
        _metrics = metrics;
        _cache = new MemoryCache(new MemoryCacheOptions { SizeLimit = _options.MaxEntries, Clock = new TimeProviderClock(time) });
    }

    /// <summary>The record for <paramref name="hash"/>, or null when no key has it.</summary>
    /// <exception cref="StoreUnavailableException">The store cannot answer and nothing usable is cached.</exception>
    public async ValueTask<ApiKeyRecord?> ResolveAsync(string hash, CancellationToken cancellationToken)
    {
        var now = _time.GetUtcNow();
        _cache.TryGetValue(hash, out CacheEntry? cached);
        if (cached is not null && now < cached.FreshUntil && cached.LoadedAt.UtcTicks > Interlocked.Read(ref _staleBeforeTicks))
        {
            _metrics.CacheLookup(hit: true);
            return cached.Record;
        }

        _metrics.CacheLookup(hit: false);
        try
        {
            var entry = await LoadAsync(hash).WaitAsync(cancellationToken);
            return entry.Record;
        }
        catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            // Only a positive entry may outlive its freshness: "unknown" is not worth trusting during an outage.
            if (cached?.Record is not null && now < cached.StaleUntil)
            {
                _metrics.StaleServedOnce();
                return cached.Record;
            }

            throw ex as StoreUnavailableException ?? new StoreUnavailableException("The key store did not answer.", ex);
        }
    }

    /// <summary>Drops every trace of the given hashes so the next request reads the store.</summary>
    public void Invalidate(params ReadOnlySpan<string?> hashes)
    {
        Interlocked.Increment(ref _generation);
        foreach (var hash in hashes)
        {
            if (hash is null)
            {
                continue;
            }

            _cache.Remove(hash);
            _inflight.TryRemove(hash, out _);
        }
    }

    /// <summary>
    /// Makes every cached entry stale, for when invalidation messages may have been missed (a reconnect):
    /// the next request for each key reads the store again, but the entries stay usable as the outage
    /// fallback, so a flapping connection does not turn known keys into 503s.
    /// </summary>
    public void MarkAllStale()
    {
        Interlocked.Increment(ref _generation);
        Interlocked.Exchange(ref _staleBeforeTicks, _time.GetUtcNow().UtcTicks);
        _inflight.Clear();
    }

    public void Dispose() => _cache.Dispose();

    private async Task<CacheEntry> LoadAsync(string hash)
    {
        var generation = Interlocked.Read(ref _generation);
        var lazy = _inflight.GetOrAdd(hash, static (h, state) => new Lazy<Task<CacheEntry>>(() => state.self.ReadStoreAsync(h, state.generation)), (self: this, generation));
        try
        {
            return await lazy.Value;
        }
        finally
        {
            // Remove only this read: an invalidation may already have started a newer one for the hash.
            _inflight.TryRemove(new KeyValuePair<string, Lazy<Task<CacheEntry>>>(hash, lazy));
        }
    }

    private async Task<CacheEntry> ReadStoreAsync(string hash, long generation)
    {
        var started = _time.GetTimestamp();
        using var span = GatewayTelemetry.StartStoreCall("find_key");
        var record = await _resilience.ExecuteAsync(static (state, ct) => new ValueTask<ApiKeyRecord?>(state._store.FindKeyByHashAsync(state.hash, ct)), (_store, hash), CancellationToken.None);
        _metrics.StoreCall("find_key", _time.GetElapsedTime(started));

        var now = _time.GetUtcNow();
        var entry = record is null
            ? new CacheEntry(null, now, now + _options.NegativeFor, now + _options.NegativeFor)
            : new CacheEntry(record, now, now + _options.FreshFor, now + _options.StaleFor);

        if (generation == Interlocked.Read(ref _generation))
        {
            _cache.Set(hash, entry, new MemoryCacheEntryOptions { Size = 1, AbsoluteExpiration = entry.StaleUntil });
        }

        return entry;
    }

    private sealed record CacheEntry(ApiKeyRecord? Record, DateTimeOffset LoadedAt, DateTimeOffset FreshUntil, DateTimeOffset StaleUntil);

    private sealed class TimeProviderClock(TimeProvider time) : Microsoft.Extensions.Internal.ISystemClock
    {
        public DateTimeOffset UtcNow => time.GetUtcNow();
    }
}
