using System.Collections.Concurrent;
using Gateway.Configuration;
using Gateway.Domain;
using Gateway.Observability;
using Gateway.Stores;
using Microsoft.Extensions.Options;

namespace Gateway.Keys;

/// <summary>
/// Resolves a key digest to the key, in the compact form the request path reads (<see cref="CachedKey"/>, with a
/// <see cref="KeyProfile"/> shared among look-alike keys), through a bounded in-process cache (<see cref="KeyCache"/>)
/// in front of the store.
/// Entries are fresh for <c>Cache:FreshFor</c>; after that the store is asked again, and only when the
/// store cannot answer is the entry served stale (up to <c>Cache:StaleFor</c>), so keys already known keep
/// working through an outage and revocations already seen stay in force; with
/// <c>Cache:FailClosedWhenPartitioned</c> nothing is served past its freshness and such requests get 503. Concurrent misses for one hash
/// share a single store read.
/// </summary>
internal sealed class KeyResolver
{
    private readonly IKeyLookup _store;
    private readonly TimeProvider _time;
    private readonly CacheOptions _options;
    private readonly StoreResilience _resilience;
    private readonly GatewayMetrics _metrics;
    private readonly KeyCache _cache;
    private readonly KeyProfiles _profiles;
    private readonly ConcurrentDictionary<KeyDigest, Lazy<Task<KeyCacheEntry>>> _inflight = new();

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
        _resilience = resilience;
        _metrics = metrics;
        _cache = new KeyCache(_options);
        _profiles = new KeyProfiles(_options.MaxEntries);
        metrics.ObserveKeyCacheEntries(() => _cache.Count);
    }

    /// <summary>The key presented as <paramref name="digest"/>, or null when no key has it.</summary>
    /// <exception cref="StoreUnavailableException">The store cannot answer and nothing usable is cached.</exception>
    public ValueTask<CachedKey?> ResolveAsync(KeyDigest digest, CancellationToken cancellationToken) =>
        ResolveAsync(digest, _time.GetUtcNow(), cancellationToken);

    /// <summary>As above, at a time the caller has just read from the same clock (one clock read per request, not two).</summary>
    public ValueTask<CachedKey?> ResolveAsync(KeyDigest digest, DateTimeOffset now, CancellationToken cancellationToken)
    {
        var found = _cache.TryGet(digest, now, out var cached);
        if (found && _cache.IsFresh(cached, now) && cached.LoadedAtTicks > Interlocked.Read(ref _staleBeforeTicks))
        {
            // A hit, which is nearly every request, needs no async state machine.
            _metrics.CacheLookup(hit: true);
            return new ValueTask<CachedKey?>(cached.Key);
        }

        _metrics.CacheLookup(hit: false);

        // What TryGet returned is within its stale time: the outage fallback, when it is a known key.
        return LoadOrStaleAsync(digest, found ? cached.Key : null, cancellationToken);
    }

    private async ValueTask<CachedKey?> LoadOrStaleAsync(KeyDigest digest, CachedKey? fallback, CancellationToken cancellationToken)
    {
        try
        {
            var entry = await LoadAsync(digest).WaitAsync(cancellationToken);
            return entry.Key;
        }
        catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            // Only a positive entry may outlive its freshness: "unknown" is not worth trusting during an outage.
            // With FailClosedWhenPartitioned none does: an instance cut off from the store (and from its
            // revocation messages) would otherwise accept a key revoked elsewhere for up to StaleFor.
            if (fallback is not null && !_options.FailClosedWhenPartitioned)
            {
                _metrics.StaleServedOnce();
                return fallback;
            }

            throw ex as StoreUnavailableException ?? new StoreUnavailableException("The key store did not answer.", ex);
        }
    }

    /// <summary>How many entries a warm-up fills the cache to: the size a full cache is trimmed to, so the keys loaded
    /// first (the most recently used) are not the first dropped when requests bring new ones.</summary>
    public int WarmUpLimit => _cache.MaxEntries - Math.Max(1, _cache.MaxEntries / 10);

    /// <summary>Changes with every invalidation; a bulk read taken before a change must not be cached (<see cref="Preload(IReadOnlyList{ApiKeyRecord}, long, DateTimeOffset)"/>).</summary>
    public long Generation => Interlocked.Read(ref _generation);

    /// <summary>
    /// Caches keys read in bulk (the warm-up at start) under their current hash, and their previous one while it
    /// still opens them, unless an invalidation came since <paramref name="generation"/> was read before them. An entry
    /// a request cached since <paramref name="readSince"/> is kept; an older one (an earlier warm-up read, marked stale
    /// by a reconnect since) is replaced. Returns how many entries were added or replaced.
    /// </summary>
    public int Preload(IReadOnlyList<ApiKeyRecord> records, long generation, DateTimeOffset readSince)
    {
        var now = _time.GetUtcNow();
        var added = 0;
        foreach (var record in records)
        {
            if (generation != Interlocked.Read(ref _generation))
            {
                break;
            }

            added += Preload(record, record.Hash, now, readSince) ? 1 : 0;
            if (record.PreviousHash is not null && record.PreviousHashExpiresAt > now)
            {
                added += Preload(record, record.PreviousHash, now, readSince) ? 1 : 0;
            }
        }

        return added;
    }

    private bool Preload(ApiKeyRecord record, string hash, DateTimeOffset now, DateTimeOffset readSince) =>
        KeyDigest.TryParseHex(hash, out var digest)
        && _cache.TryAdd(digest, new KeyCacheEntry(new CachedKey(record, digest.Value, _profiles.Share(new KeyProfile(record))), now.UtcTicks), WarmUpLimit, readSince.UtcTicks);

    /// <summary>Drops every trace of the given hashes (hex, as stored) so the next request reads the store.</summary>
    public void Invalidate(params ReadOnlySpan<string?> hashes)
    {
        Interlocked.Increment(ref _generation);
        foreach (var hash in hashes)
        {
            // Not a digest (null, or garbage in a change message): no key can be cached under it.
            if (KeyDigest.TryParseHex(hash, out var digest))
            {
                _cache.Remove(digest);
                _inflight.TryRemove(digest, out _);
            }
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

    private async Task<KeyCacheEntry> LoadAsync(KeyDigest digest)
    {
        var generation = Interlocked.Read(ref _generation);
        var lazy = _inflight.GetOrAdd(digest, static (d, state) => new Lazy<Task<KeyCacheEntry>>(() => state.self.ReadStoreAsync(d, state.generation)), (self: this, generation));
        try
        {
            return await lazy.Value;
        }
        finally
        {
            // Remove only this read: an invalidation may already have started a newer one for the hash.
            _inflight.TryRemove(new KeyValuePair<KeyDigest, Lazy<Task<KeyCacheEntry>>>(digest, lazy));
        }
    }

    private async Task<KeyCacheEntry> ReadStoreAsync(KeyDigest digest, long generation)
    {
        var hash = digest.ToHex();
        var started = _time.GetTimestamp();
        using var span = GatewayTelemetry.StartStoreCall("find_key");
        var record = await _resilience.ExecuteAsync(static (state, ct) => state._store.FindKeyByHashAsync(state.hash, ct), (_store, hash), CancellationToken.None);
        _metrics.StoreCall("find_key", _time.GetElapsedTime(started));

        var now = _time.GetUtcNow();
        var entry = new KeyCacheEntry(record is null ? null : new CachedKey(record, digest.Value, _profiles.Share(new KeyProfile(record))), now.UtcTicks);

        if (generation == Interlocked.Read(ref _generation))
        {
            _cache.Set(digest, entry, now);
        }

        return entry;
    }
}
