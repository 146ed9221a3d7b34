using System.Collections.Concurrent;
using Gateway.Configuration;
using Gateway.Domain;

namespace Gateway.Keys;

/// <summary>
/// What the store said about a key digest (the key, or null for "no such key") and when (UTC ticks). A struct, so it
/// lives in the dictionary's own node: an unknown digest costs no object of its own, a known one just its <see cref="CachedKey"/>.
/// </summary>
internal readonly record struct KeyCacheEntry(CachedKey? Key, long LoadedAtTicks);

/// <summary>
/// The in-process key cache: at most <c>Cache:MaxEntries</c> entries keyed by the first half of a
/// <see cref="KeyDigest"/>, each dropped once past its stale time (<c>Cache:StaleFor</c> after it was read,
/// <c>Cache:NegativeFor</c> for an unknown digest). When full it first drops what has expired, then unknown-key
/// entries, then the known keys closest to expiring, down to 90%, so a flood of made-up keys cannot push out the
/// keys that are really in use. A hit takes no lock and allocates nothing.
/// </summary>
internal sealed class KeyCache(CacheOptions options)
{
    private readonly ConcurrentDictionary<Tag, KeyCacheEntry> _entries = new();
    private readonly Lock _trimGate = new();
    private readonly long _freshTicks = options.FreshFor.Ticks;
    private readonly long _staleTicks = options.StaleFor.Ticks;
    private readonly long _negativeTicks = options.NegativeFor.Ticks;
    private int _count;

    public int MaxEntries { get; } = options.MaxEntries;

    public int Count => Volatile.Read(ref _count);

    /// <summary>The entry for <paramref name="digest"/>; false when there is none or it has expired.</summary>
    public bool TryGet(in KeyDigest digest, DateTimeOffset now, out KeyCacheEntry entry)
    {
        if (!_entries.TryGetValue(Tag.Of(digest), out entry))
        {
            return false;
        }

        if (!IsExpired(entry, now.UtcTicks))
        {
            return true;
        }

        Remove(Tag.Of(digest), entry);
        return false;
    }

    /// <summary>
    /// Whether <paramref name="entry"/> may be used without asking the store (<c>FreshFor</c>, or <c>NegativeFor</c>
    /// for an unknown digest). Elapsed time is compared with the lifetime, so no sum can overflow.
    /// </summary>
    public bool IsFresh(in KeyCacheEntry entry, DateTimeOffset now) =>
        now.UtcTicks - entry.LoadedAtTicks < (entry.Key is null ? _negativeTicks : _freshTicks);

    /// <summary>Adds or replaces the entry; when the cache is full and nothing can be dropped, it is not kept.</summary>
    public void Set(in KeyDigest digest, KeyCacheEntry entry, DateTimeOffset now)
    {
        var tag = Tag.Of(digest);
        while (true)
        {
            if (_entries.TryGetValue(tag, out var current))
            {
                if (_entries.TryUpdate(tag, entry, current))
                {
                    return;
                }

                continue;
            }

            // A slot is reserved before adding, so concurrent writers never take the cache past its bound.
            if (!TryReserve())
            {
                if (Trim(now) >= MaxEntries)
                {
                    return;
                }

                continue;
            }

            if (_entries.TryAdd(tag, entry))
            {
                return;
            }

            Interlocked.Decrement(ref _count);
        }
    }

    /// <summary>
    /// Adds the entry, or replaces one loaded before <paramref name="readSinceTicks"/> (older than what the caller read),
    /// unless the cache holds <paramref name="limit"/> entries; never makes room.
    /// </summary>
    public bool TryAdd(in KeyDigest digest, KeyCacheEntry entry, int limit, long readSinceTicks)
    {
        var tag = Tag.Of(digest);
        if (_entries.TryGetValue(tag, out var current))
        {
            return current.LoadedAtTicks < readSinceTicks && _entries.TryUpdate(tag, entry, current);
        }

        if (Count >= limit || !TryReserve())
        {
            return false;
        }

        if (_entries.TryAdd(tag, entry))
        {
            return true;
        }

        Interlocked.Decrement(ref _count);
        return false;
    }

    public void Remove(in KeyDigest digest)
    {
        if (_entries.TryRemove(Tag.Of(digest), out _))
        {
            Interlocked.Decrement(ref _count);
        }
    }

    private bool TryReserve()
    {
        var count = Volatile.Read(ref _count);
        while (count < MaxEntries)
        {
            var seen = Interlocked.CompareExchange(ref _count, count + 1, count);
            if (seen == count)
            {
                return true;
            }

            count = seen;
        }

        return false;
    }

    /// <summary>Makes room (one thread at a time; the others find the cache full meanwhile). Returns the count after.</summary>
    private int Trim(DateTimeOffset now)
    {
        if (!_trimGate.TryEnter())
        {
            return Count;
        }

        try
        {
            var kept = new List<KeyValuePair<Tag, KeyCacheEntry>>(Count);
            foreach (var pair in _entries)
            {
                if (IsExpired(pair.Value, now.UtcTicks))
                {
                    Remove(pair.Key, pair.Value);
                }
                else
                {
                    kept.Add(pair);
                }
            }

            var target = MaxEntries - Math.Max(1, MaxEntries / 10);
            if (kept.Count > target)
            {
                // Entries of a kind share one lifetime, so the oldest read is the closest to expiring.
                kept.Sort(static (x, y) => (x.Value.Key is null, y.Value.Key is null) switch
                {
                    (true, false) => -1,
                    (false, true) => 1,
                    _ => x.Value.LoadedAtTicks.CompareTo(y.Value.LoadedAtTicks),
                });
                for (var i = 0; i < kept.Count - target; i++)
                {
                    Remove(kept[i].Key, kept[i].Value);
                }
            }

            return Count;
        }
        finally
        {
            _trimGate.Exit();
        }
    }

    /// <summary>
    /// What the cache is keyed by: the first 128 bits of the digest, which take half the bytes of the whole one in
    /// every entry. A hit is not checked against the other half: a key string whose digest starts like another key's
    /// is a 128-bit second preimage of SHA-256, out of reach, and two real keys sharing one by chance (about n² in
    /// 2^129 for n keys) does not happen either.
    /// </summary>
    private readonly record struct Tag(ulong A, ulong B)
    {
        public static Tag Of(in KeyDigest digest) => new(digest.Value.A, digest.Value.B);

        public bool Equals(Tag other) => A == other.A && B == other.B;

        // SHA-256 bits are uniform: any 32 of them spread entries as well as a mix of all would.
        public override int GetHashCode() => (int)A;
    }

    private bool IsExpired(in KeyCacheEntry entry, long nowTicks) =>
        nowTicks - entry.LoadedAtTicks >= (entry.Key is null ? _negativeTicks : _staleTicks);

    private void Remove(Tag tag, KeyCacheEntry entry)
    {
        // Only that entry: a newer one for the same digest stays.
        if (_entries.TryRemove(new KeyValuePair<Tag, KeyCacheEntry>(tag, entry)))
        {
            Interlocked.Decrement(ref _count);
        }
    }
}
