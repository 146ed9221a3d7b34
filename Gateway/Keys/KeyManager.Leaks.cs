using Gateway.Domain;
using Gateway.Stores;

namespace Gateway.Keys;

/// <summary>What to do with a key whose plaintext was found in public (a secret-scanning report or an operator's paste).</summary>
internal enum LeakAction
{
    Revoke,
    Deactivate,
    Report,
}

/// <summary>How a reported token was handled.</summary>
internal enum LeakOutcome
{
    /// <summary>Not one of our keys: malformed, bad checksum, or no key has that hash.</summary>
    NotOurs,

    /// <summary>One of ours; the configured action was applied now.</summary>
    Handled,

    /// <summary>One of ours, already unusable (or already in the state the action asks for): nothing changed.</summary>
    AlreadyHandled,
}

internal sealed partial class KeyManager
{
    public const string LeakedAction = "key.leaked";

    /// <summary>
    /// How many times a leak is read and decided before a lost race is given up on. Each lost race means another
    /// writer's change landed; when that writer was another report of the same token (GitHub sends one per
    /// repository that holds it, at once), the second try already finds the key handled.
    /// </summary>
    internal const int LeakAttempts = 5;

    /// <summary>
    /// Applies <paramref name="action"/> to the key with this hash, writing one <c>key.leaked</c> audit entry with
    /// the change and where the leak was seen. A default key, which cannot be revoked or deactivated, is rotated
    /// instead; its leaked hash is kept as an already-expired previous hash so a repeated report still finds it
    /// and changes nothing. Repeating a report never acts twice, nor do reports arriving together: the one that
    /// loses the race to write reads the key again and decides again.
    /// </summary>
    /// <exception cref="StoreConcurrencyException">The key changed between read and write on every one of <see cref="LeakAttempts"/> tries.</exception>
    public async Task<(LeakOutcome Outcome, ApiKeyRecord? Key)> HandleLeakAsync(string hash, LeakAction action, string? url, string? source, string actor, CancellationToken cancellationToken)
    {
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                return await HandleLeakOnceAsync(hash, action, url, source, actor, cancellationToken);
            }
            catch (StoreConcurrencyException) when (attempt < LeakAttempts)
            {
                // Nothing of ours was written (the version check failed); the next read sees what the winner did,
                // typically the same revocation or rotation, which is then answered as already handled.
            }
        }
    }

    private async Task<(LeakOutcome Outcome, ApiKeyRecord? Key)> HandleLeakOnceAsync(string hash, LeakAction action, string? url, string? source, string actor, CancellationToken cancellationToken)
    {
        var key = await store.FindKeyByHashAsync(hash, cancellationToken);
        if (key is null || (key.Hash != hash && key.PreviousHash != hash))
        {
            return (LeakOutcome.NotOurs, null);
        }

        var now = Now();
        var current = key.Hash == hash;
        if (key.State == KeyState.Revoked || (!current && !(key.PreviousHashExpiresAt > now)))
        {
            return (LeakOutcome.AlreadyHandled, key);
        }

        ApiKeyRecord after;
        if (!current)
        {
            // The previous plaintext of a key in its rotation grace period: end the grace, the current plaintext is not leaked.
            after = key with { PreviousHashExpiresAt = now };
        }
        else if (action == LeakAction.Report)
        {
            after = key;
        }
        else if (key.IsDefault)
        {
            var plaintext = ApiKeyFormat.Generate(options.CurrentValue.KeyPrefix, key.Environment);
            after = key with
            {
                Hash = ApiKeyFormat.Hash(plaintext),
                Prefix = ApiKeyFormat.DisplayPrefix(plaintext),
                PreviousHash = hash,
                PreviousHashExpiresAt = now,
            };
        }
        else if (action == LeakAction.Deactivate)
        {
            if (key.State == KeyState.Inactive)
            {
                return (LeakOutcome.AlreadyHandled, key);
            }

            // As a deactivation through the API: the grace of a previous plaintext ends with it.
            after = key with { State = KeyState.Inactive, PreviousHashExpiresAt = EndGrace(key, now) };
        }
        else
        {
            after = key with { State = KeyState.Revoked, RevokedAt = now, PreviousHash = null, PreviousHashExpiresAt = null };
        }

        var saved = await SaveAsync(key, after, LeakedAction, actor, now, cancellationToken, changes => changes
            .Add("leakAction", null, key.IsDefault && current && action != LeakAction.Report ? "rotate" : action.ToString().ToLowerInvariant())
            .Add("leakUrl", null, url)
            .Add("leakSource", null, source));

        // What the leak did is that change too: a listener for revocations (a webhook subscribed to key.revoked alone)
        // must hear of a key revoked because it leaked. The audit log keeps the one key.leaked entry.
        var done = after.State != key.State ? (after.State == KeyState.Revoked ? "key.revoke" : "key.deactivate")
            : after.Hash != key.Hash ? "key.rotate"
            : null;
        if (done is not null)
        {
            await AnnounceAsync(done, saved);
        }

        return (LeakOutcome.Handled, saved);
    }
}
