using Gateway.Configuration;
using Gateway.Domain;
using Gateway.Stores;
using Microsoft.Extensions.Options;

namespace Gateway.Keys;

/// <summary>
/// The key lifecycle (docs/keys.md) on top of <see cref="IGatewayStore"/>, shared by the
/// admin API and the CLI. Every change is written with its audit entry, then dropped from this
/// instance's cache before the call returns and announced to other instances.
/// </summary>
internal sealed partial class KeyManager(
    IGatewayStore store,
    KeyResolver resolver,
    IKeyChangeNotifier notifier,
    IOptionsMonitor<GatewayOptions> options,
    TimeProvider time,
    IEnumerable<IKeyEvents> events)
{
    public const string DefaultKeyName = "default";

    public Task<(Organization Organization, IssuedKey DefaultKey)> CreateOrganizationAsync(string id, string name, string actor, CancellationToken cancellationToken) =>
        CreateOrganizationAsync(id, name, actor, options.CurrentValue.Environment, ["*"], cancellationToken);

    /// <summary>As above, with the default key bound to <paramref name="environment"/> and holding only <paramref name="scopes"/> (the demo's key).</summary>
    public async Task<(Organization Organization, IssuedKey DefaultKey)> CreateOrganizationAsync(string id, string name, string actor, string environment, IReadOnlyList<string> scopes, CancellationToken cancellationToken)
    {
        var now = Now();
        var issued = NewKey(id, new KeyDraft(DefaultKeyName, environment, scopes, "Created with the organization.", null, actor, null, null), now, isDefault: true);
        var organization = new Organization(id, name, now, issued.Record.Id);
        var audit = Audit(id, null, "org.create", actor, now, new AuditChanges().Add("name", null, name).Add("defaultKeyId", null, issued.Record.Id).ToJson());
        await store.CreateOrganizationAsync(organization, issued.Record, audit, cancellationToken);
        return (organization, issued);
    }

    public async Task<IssuedKey> CreateKeyAsync(string orgId, KeyDraft draft, string actor, CancellationToken cancellationToken)
    {
        if (await store.GetOrganizationAsync(orgId, cancellationToken) is null)
        {
            throw new KeyOperationException(KeyOperationError.NotFound, $"Organization '{orgId}' does not exist.");
        }

        var now = Now();
        EnsureFuture(draft.ExpiresAt, now);
        var issued = NewKey(orgId, draft, now, isDefault: false);
        await store.CreateKeyAsync(issued.Record, Audit(orgId, issued.Record.Id, "key.create", actor, now, AuditChanges.Snapshot(issued.Record)), cancellationToken);
        await AnnounceAsync("key.create", issued.Record);
        return issued;
    }

    public async Task<ApiKeyRecord> UpdateAsync(string id, KeyPatch patch, string actor, CancellationToken cancellationToken)
    {
        var key = await GetRequiredAsync(id, cancellationToken);
        if (key.State == KeyState.Revoked)
        {
            throw new KeyOperationException(KeyOperationError.Conflict, "A revoked key cannot be changed.");
        }

        var now = Now();
        if (patch.HasExpiresAt)
        {
            EnsureFuture(patch.ExpiresAt, now);
        }

        if (key.IsDefault && patch.Name is not null && patch.Name != DefaultKeyName)
        {
            throw new KeyOperationException(KeyOperationError.Conflict, "The default key cannot be renamed.", "name");
        }

        var updated = key with
        {
            Name = patch.Name ?? key.Name,
            Description = patch.HasDescription ? patch.Description : key.Description,
            Scopes = patch.Scopes ?? key.Scopes,
            ExpiresAt = patch.HasExpiresAt ? patch.ExpiresAt : key.ExpiresAt,
            CustomerId = patch.HasCustomerId ? patch.CustomerId : key.CustomerId,
            RateLimit = patch.HasRateLimit ? patch.RateLimit : key.RateLimit,
            AllowedCidrs = patch.HasAllowedCidrs ? patch.AllowedCidrs ?? [] : key.AllowedCidrs,
            Credits = patch.HasCredits ? NewCredits(patch.Credits, now) : key.Credits,
        };

        return await SaveAsync(key, updated, "key.update", actor, now, cancellationToken);
    }

    public async Task<IssuedKey> RotateAsync(string id, TimeSpan gracePeriod, string actor, CancellationToken cancellationToken)
    {
        if (!KeyRules.IsValidGracePeriod(gracePeriod))
        {
            throw new KeyOperationException(KeyOperationError.Invalid, $"gracePeriod must be {KeyRules.GracePeriodRange}.", "gracePeriod");
        }

        var key = await GetRequiredAsync(id, cancellationToken);
        if (key.State == KeyState.Revoked)
        {
            throw new KeyOperationException(KeyOperationError.Conflict, "A revoked key cannot be rotated.");
        }

        var now = Now();
        var plaintext = ApiKeyFormat.Generate(options.CurrentValue.KeyPrefix, key.Environment);

        // Only the plaintext being replaced gets a grace (one previous hash, as designed: a second rotation
        // drops the first plaintext). An inactive key's plaintext works nowhere, so rotating it grants none:
        // activating the key later must not bring back a plaintext the operator had switched off.
        var grace = gracePeriod > TimeSpan.Zero && key.State == KeyState.Active;
        var rotated = key with
        {
            Hash = ApiKeyFormat.Hash(plaintext),
            Prefix = ApiKeyFormat.DisplayPrefix(plaintext),
            PreviousHash = grace ? key.Hash : null,
            PreviousHashExpiresAt = grace ? now + gracePeriod : null,
        };

        var saved = await SaveAsync(key, rotated, "key.rotate", actor, now, cancellationToken);
        return new IssuedKey(saved, plaintext);
    }

    public async Task<ApiKeyRecord> DeactivateAsync(string id, string actor, CancellationToken cancellationToken)
    {
        var key = await GetRequiredAsync(id, cancellationToken);
        EnsureNotDefaultOrRevoked(key, "deactivated");
        if (key.State == KeyState.Inactive)
        {
            return await UnchangedAsync(key);
        }

        // Deactivating ends a rotation grace for good, as revoking does: activating the key again brings
        // back its current plaintext only, never the one it was rotated away from.
        var now = Now();
        return await SaveAsync(key, key with { State = KeyState.Inactive, PreviousHashExpiresAt = EndGrace(key, now) }, "key.deactivate", actor, now, cancellationToken);
    }

    public async Task<ApiKeyRecord> ActivateAsync(string id, string actor, CancellationToken cancellationToken)
    {
        var key = await GetRequiredAsync(id, cancellationToken);
        EnsureNotDefaultOrRevoked(key, "activated");
        if (key.State == KeyState.Active)
        {
            return await UnchangedAsync(key);
        }

        // Also ends a grace left running on a key deactivated by an older version, which did not end it.
        var now = Now();
        return await SaveAsync(key, key with { State = KeyState.Active, PreviousHashExpiresAt = EndGrace(key, now) }, "key.activate", actor, now, cancellationToken);
    }

    public async Task<ApiKeyRecord> RevokeAsync(string id, string actor, CancellationToken cancellationToken)
    {
        var key = await GetRequiredAsync(id, cancellationToken);
        if (key.IsDefault)
        {
            throw new KeyOperationException(KeyOperationError.Conflict, "The default key cannot be revoked; rotate it instead.");
        }

        if (key.State == KeyState.Revoked)
        {
            return await UnchangedAsync(key);
        }

        var now = Now();
        // A revoked key ends any rotation grace too: neither plaintext may work again. The previous hash
        // stays on the record (its grace ended now) so a retried revoke still knows every hash to clear.
        var revoked = key with { State = KeyState.Revoked, RevokedAt = now, PreviousHashExpiresAt = EndGrace(key, now) };
        return await SaveAsync(key, revoked, "key.revoke", actor, now, cancellationToken);
    }

    private async Task<ApiKeyRecord> SaveAsync(ApiKeyRecord before, ApiKeyRecord after, string action, string actor, DateTimeOffset now, CancellationToken cancellationToken, Action<AuditChanges>? annotate = null)
    {
        after = after with { UpdatedAt = now, Version = before.Version + 1 };
        var changes = AuditChanges.Diff(before, after);
        annotate?.Invoke(changes);
        if (action == "key.update" && changes.IsEmpty)
        {
            return await UnchangedAsync(before);
        }

        try
        {
            await store.UpdateKeyAsync(after, before.Version, Audit(before.OrgId, before.Id, action, actor, now, changes.ToJson()), cancellationToken);
        }
        finally
        {
            // Once the write is sent it may have landed even when the call fails (the caller went away,
            // the store answered after the timeout): drop and announce every hash either way, whatever
            // the caller's token says, or a revoked key keeps working from caches.
            await InvalidateAsync(before.Hash, before.PreviousHash, after.Hash, after.PreviousHash);
        }

        await AnnounceAsync(action, after);
        return after;
    }

    // After the write landed, whatever the caller's token says: a listener's outbox must hear of every stored change.
    private async Task AnnounceAsync(string action, ApiKeyRecord key)
    {
        foreach (var listener in events)
        {
            await listener.KeyChangedAsync(action, key, CancellationToken.None);
        }
    }

    /// <summary>
    /// A call that finds the key already in the requested state still clears caches: it may be the retry
    /// of a call whose write landed but whose invalidation never ran.
    /// </summary>
    private async Task<ApiKeyRecord> UnchangedAsync(ApiKeyRecord key)
    {
        await InvalidateAsync(key.Hash, key.PreviousHash);
        return key;
    }

    private async Task InvalidateAsync(params string?[] hashes)
    {
        var distinct = hashes.OfType<string>().Distinct(StringComparer.Ordinal).ToArray();
        resolver.Invalidate(distinct);
        await notifier.PublishAsync(distinct, CancellationToken.None);
    }

    private async Task<ApiKeyRecord> GetRequiredAsync(string id, CancellationToken cancellationToken) =>
        await store.GetKeyAsync(id, cancellationToken)
        ?? throw new KeyOperationException(KeyOperationError.NotFound, $"Key '{id}' does not exist.");

    private static void EnsureNotDefaultOrRevoked(ApiKeyRecord key, string verb)
    {
        if (key.IsDefault)
        {
            throw new KeyOperationException(KeyOperationError.Conflict, $"The default key cannot be {verb}.");
        }

        if (key.State == KeyState.Revoked)
        {
            throw new KeyOperationException(KeyOperationError.Conflict, $"A revoked key cannot be {verb}.");
        }
    }

    private static void EnsureFuture(DateTimeOffset? expiresAt, DateTimeOffset now)
    {
        if (!KeyRules.IsValidExpiry(expiresAt, now))
        {
            throw new KeyOperationException(KeyOperationError.Invalid, "expiresAt must be in the future.", "expiresAt");
        }
    }

    private IssuedKey NewKey(string orgId, KeyDraft draft, DateTimeOffset now, bool isDefault)
    {
        var plaintext = ApiKeyFormat.Generate(options.CurrentValue.KeyPrefix, draft.Environment);
        var record = new ApiKeyRecord
        {
            Id = "key_" + Base62.Random(20),
            OrgId = orgId,
            Name = draft.Name,
            Prefix = ApiKeyFormat.DisplayPrefix(plaintext),
            Hash = ApiKeyFormat.Hash(plaintext),
            Environment = draft.Environment,
            Scopes = draft.Scopes,
            IsDefault = isDefault,
            Description = draft.Description,
            CreatedBy = draft.CreatedBy,
            CreatedAt = now,
            UpdatedAt = now,
            ExpiresAt = draft.ExpiresAt,
            CustomerId = draft.CustomerId,
            AllowedCidrs = draft.AllowedCidrs ?? [],
            RateLimit = draft.RateLimit,
            Credits = NewCredits(draft.Credits, now),
            Version = 1,
        };

        return new IssuedKey(record, plaintext);
    }

    /// <summary>
    /// Records a change of a key's credits (<c>POST /admin/keys/{id}/credits</c>), audited as <c>key.credits</c>:
    /// <c>set</c> starts a fresh count with <paramref name="amount"/>; <c>add</c> and <c>subtract</c> were applied
    /// to the live counter by the caller, and are recorded with the balance before and after.
    /// </summary>
    public async Task<ApiKeyRecord> RecordCreditsAsync(ApiKeyRecord key, string op, long amount, long? balanceBefore, long balanceAfter, string actor, CancellationToken cancellationToken)
    {
        if (key.State == KeyState.Revoked)
        {
            throw new KeyOperationException(KeyOperationError.Conflict, "A revoked key cannot be changed.");
        }

        var now = Now();
        var credits = op == "set" ? NewCredits(new CreditsDraft(amount, key.Credits?.Refill), now) : key.Credits;
        return await SaveAsync(key, key with { Credits = credits }, "key.credits", actor, now, cancellationToken, changes => changes
            .Add("op", null, op)
            .Add("amount", null, amount)
            .Add("balance", balanceBefore, balanceAfter));
    }

    private static KeyCredits? NewCredits(CreditsDraft? draft, DateTimeOffset now) =>
        draft is null ? null : new KeyCredits(draft.Remaining, draft.Refill, Base62.Random(12), now);

    private static AuditEntry Audit(string orgId, string? keyId, string action, string actor, DateTimeOffset now, string? changes) =>
        new(AuditIds.New(), orgId, keyId, action, actor, now, changes, AuditCaller.Current);

    /// <summary>
    /// The previous hash's grace, ended at <paramref name="now"/> at the latest. The hash itself stays on the
    /// record (its grace over) so that a retried call still knows every hash to drop from caches.
    /// </summary>
    private static DateTimeOffset? EndGrace(ApiKeyRecord key, DateTimeOffset now) =>
        key.PreviousHash is null ? null : key.PreviousHashExpiresAt is { } x && x < now ? x : now;

    private DateTimeOffset Now() => KeyRules.ToStoredPrecision(time.GetUtcNow());
}
