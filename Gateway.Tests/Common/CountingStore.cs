using Gateway.Domain;
using Gateway.Stores;

namespace Gateway.Tests.Common;

/// <summary>Wraps the real store's key lookup and counts calls, to prove which requests never reach it.</summary>
public sealed class CountingStore(IKeyLookup inner) : IKeyLookup
{
    private int _lookups;

    public int Lookups { get => Volatile.Read(ref _lookups); set => Volatile.Write(ref _lookups, value); }

    public Task<ApiKeyRecord?> FindKeyByHashAsync(string hash, CancellationToken cancellationToken)
    {
        Interlocked.Increment(ref _lookups);
        return inner.FindKeyByHashAsync(hash, cancellationToken);
    }
}
