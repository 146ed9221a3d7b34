using System.Collections.Concurrent;
using Gateway.Admin;
using Gateway.Observability;
using Gateway.Stores;

namespace Gateway.Operators;

/// <summary>
/// Checks a presented <c>gwa_</c> token by its SHA-256 digest against the store, through a cache that trusts
/// what it read for <see cref="FreshFor"/> only: a token revoked (or re-scoped) on another instance stops
/// working here within that time without a change channel, and a revoke on this instance drops the entry at once.
/// Expired and revoked tokens are refused like wrong ones (401).
/// </summary>
internal sealed partial class OperatorTokenAuthenticator(
    IOperatorTokenStore store,
    StoreResilience resilience,
    TimeProvider time,
    ILogger<OperatorTokenAuthenticator> logger) : IAdminTokenAuthenticator
{
    /// <summary>How long a read is trusted; well under the 1 s in which every instance must honour a revocation.</summary>
    internal static readonly TimeSpan FreshFor = TimeSpan.FromMilliseconds(500);

    /// <summary>How often a token's <c>lastUsedAt</c> is written at most, so admin calls do not each write.</summary>
    internal static readonly TimeSpan UseRecordedEvery = TimeSpan.FromMinutes(1);

    // Only tokens the store knows are cached, so wrong guesses cannot grow it.
    private readonly ConcurrentDictionary<string, (OperatorToken Token, DateTimeOffset ReadAt)> _cache = new(StringComparer.Ordinal);

    public async ValueTask<AdminPrincipal?> AuthenticateAsync(string presented, CancellationToken cancellationToken)
    {
        if (!OperatorTokenFormat.IsWellFormed(presented))
        {
            return null;
        }

        var hash = OperatorTokenFormat.Hash(presented);
        var now = time.GetUtcNow();
        OperatorToken? token;
        if (_cache.TryGetValue(hash, out var cached) && now - cached.ReadAt < FreshFor)
        {
            token = cached.Token;
        }
        else
        {
            token = await resilience.ExecuteAsync(
                static (state, ct) => state.store.FindByHashAsync(state.hash, ct), (store, hash), cancellationToken);
            if (token is null)
            {
                _cache.TryRemove(hash, out _);
                return null;
            }

            _cache[hash] = (token, now);
            if (token.IsUsable(now) && (token.LastUsedAt is not { } used || now - used >= UseRecordedEvery))
            {
                await RecordUseAsync(token.Id, now);
            }
        }

        return token.IsUsable(now) ? new AdminPrincipal(token.Name, token.Role, token.Org, token.Id) : null;
    }

    /// <summary>Drops what this instance cached of a token, after it was revoked here.</summary>
    public void Forget(string hash) => _cache.TryRemove(hash, out _);

    private async Task RecordUseAsync(string id, DateTimeOffset now)
    {
        try
        {
            // Never the caller's token: a call that was accepted counts as a use even if the client leaves.
            await store.RecordUseAsync(id, now, CancellationToken.None);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            // lastUsedAt is informational; an admin call is not refused because it could not be written.
            Log.UseNotRecorded(logger, id, ex);
        }
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = EventIds.OperatorTokenUseNotRecorded, Level = LogLevel.Warning, Message = "Could not record the use of admin token {TokenId}.")]
        public static partial void UseNotRecorded(ILogger logger, string tokenId, Exception exception);
    }
}
