using System.Collections.Concurrent;
using Gateway.Domain;

namespace Gateway.Keys;

/// <summary>
/// Hands out one <see cref="KeyProfile"/> instance for all the cached keys that have the same one, so a hundred
/// keys of an organization hold its id, environment and scope list once. Bounded like the cache it serves: past
/// <c>maxCount</c> profiles it starts over (keys already cached keep theirs; only sharing with later ones is lost),
/// so profiles of keys long gone from the cache cannot pile up.
/// </summary>
internal sealed class KeyProfiles(int maxCount)
{
    private readonly ConcurrentDictionary<KeyProfile, KeyProfile> _shared = new();
    private int _count;

    public int Count => _shared.Count;

    /// <summary>The shared instance equal to <paramref name="profile"/>, which becomes it when there is none.</summary>
    public KeyProfile Share(KeyProfile profile)
    {
        if (_shared.TryGetValue(profile, out var shared))
        {
            return shared;
        }

        // Counted before adding: racing writers may start over a little early or late, by no more than their number.
        if (Interlocked.Increment(ref _count) > maxCount)
        {
            _shared.Clear();
            Interlocked.Exchange(ref _count, 1);
        }

        return _shared.GetOrAdd(profile, profile);
    }
}
