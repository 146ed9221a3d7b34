namespace Gateway.Domain;

/// <summary>
/// A key's use on this instance, kept by the features that count it (last-used times, usage counts) and reached
/// from the cached key, so a request finds it through the key it already holds instead of hashing the key's id
/// into one table per feature: with 100,000 keys in use, those lookups missed the CPU's caches on every request.
/// </summary>
internal sealed class KeyActivity
{
    /// <summary>The newest use, in Unix seconds; raised only (Keys' last-used tracker).</summary>
    public long LastUsedSeconds;

    /// <summary>1 while the last-used tracker has this key queued for its next write.</summary>
    public int LastUsedQueued;

    /// <summary>Set once the tracker has forgotten this entry (idle): the key's next use attaches a new one.</summary>
    public bool Detached;

    /// <summary>The usage counters' state for the minute this key last counted in; theirs to read and replace.</summary>
    public object? Usage;
}
