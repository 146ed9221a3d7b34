using System.Collections.Concurrent;
using Gateway.Domain;

namespace Gateway.Keys;

/// <summary>What the store said about a key digest, and until when that may be used.</summary>
internal sealed record KeyCacheEntry(ApiKeyRecord? Record, DateTimeOffset LoadedAt, DateTimeOffset FreshUntil, DateTimeOffset StaleUntil);

/// <summary>
/// The in-process key cache: at most <c>maxEntries</c> entries keyed by <see cref="KeyDigest"/>, each
/// dropped once past its <see cref="KeyCacheEntry.StaleUntil"/>. When full it first drops what has
/// expired, then unknown-key entries, then the known keys closest to expiring, down to 90%, so a flood
/// of made-up keys cannot push out the keys that are really in use. A hit takes no lock and allocates nothing.
/// </summary>
internal sealed class KeyCache(int maxEntries)
{
    private readonly ConcurrentDictionary<KeyDigest, KeyCacheEntry> _entries = new();
    private readonly Lock _trimGate = new();
    private int _count;

    public int MaxEntries { get; } = maxEntries;

    public int Count => Volatile.Read(ref _count);

    /// <summary>The entry for <paramref name="digest"/>, or null when there is none or it has expired.</summary>
    public KeyCacheEntry? Get(in KeyDigest digest, DateTimeOffset now)
    {
        if (!_entries.TryGetValue(digest, out var entry))
        {
            return null;
        }

        if (now < entry.StaleUntil)
        {
            return entry;
        }

        Remove(digest, entry);
        return null;
    }

    /// <summary>Adds or replaces the entry; when the cache is full and nothing can be dropped, it is not kept.</summary>
    public void Set(in KeyDigest digest, KeyCacheEntry entry, DateTimeOffset now)
    {
        while (true)
        {
            if (_entries.TryGetValue(digest, out var current))
            {
                if (_entries.TryUpdate(digest, entry, current))
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

            if (_entries.TryAdd(digest, entry))
            {
                return;
            }

            Interlocked.Decrement(ref _count);
        }
    }

    public void Remove(in KeyDigest digest)
    {
        if (_entries.TryRemove(digest, out _))
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
            var kept = new List<KeyValuePair<KeyDigest, KeyCacheEntry>>(Count);
            foreach (var pair in _entries)
            {
                if (now >= pair.Value.StaleUntil)
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
                kept.Sort(static (x, y) => (x.Value.Record is null, y.Value.Record is null) switch
                {
                    (true, false) => -1,
                    (false, true) => 1,
                    _ => x.Value.StaleUntil.CompareTo(y.Value.StaleUntil),
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

    private void Remove(KeyDigest digest, KeyCacheEntry entry)
    {
        // Only that entry: a newer one for the same digest stays.
        if (_entries.TryRemove(new KeyValuePair<KeyDigest, KeyCacheEntry>(digest, entry)))
        {
            Interlocked.Decrement(ref _count);
        }
    }
}
