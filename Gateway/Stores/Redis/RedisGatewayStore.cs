using System.Globalization;
using System.Text.Json;
using Gateway.Configuration;
using Gateway.Domain;
using Gateway.Observability;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace Gateway.Stores.Redis;

/// <summary>
/// The shared store: every gateway instance pointing at the same Redis and prefix sees the same orgs,
/// keys and revocations. Keys are found through the hash index (<c>hash:{sha256}</c> → key id); only
/// hashes are ever written, never key material. Layout: docs/redis.md.
/// </summary>
internal sealed partial class RedisGatewayStore(IConnectionMultiplexer redis, IOptions<GatewayOptions> options, ILogger<RedisGatewayStore>? logger = null) : IGatewayStore, IDisposable
{
    private readonly RedisKeys _keys = new(options.Value.Store.RedisPrefix);

    // Behind Sentinel (and only there) the guard exists: it keeps admin writes off a returning old primary.
    private readonly SentinelPrimaryGuard? _primaryGuard = SentinelPrimaryGuard.For(options.Value.Store.Redis, redis);
    private readonly ILogger _logger = logger ?? (ILogger)Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance;
    private readonly long _replicaWaitMillis = (long)Math.Max(50, options.Value.Store.Timeout.TotalMilliseconds / 2);

    private readonly TimeSpan _startTimeout = options.Value.Store.Timeout;

    private IDatabase Db => redis.GetDatabase();

    /// <summary>
    /// Redis being down does not stop the gateway (it serves what it can and recovers by itself), but Redis
    /// refusing the credentials will not fix itself: that ends the start with one clear line instead of an
    /// instance that runs and is never ready.
    /// </summary>
    public async Task InitializeAsync(CancellationToken cancellationToken)
    {
        // The refusal (a failed AUTH or TLS handshake) can arrive after the first PING found no connection
        // yet, so Redis gets the store timeout to say it; after that, silence counts as "down" and start goes on.
        var deadline = Environment.TickCount64 + (long)_startTimeout.TotalMilliseconds;
        while (true)
        {
            try
            {
                await Db.PingAsync().WaitAsync(cancellationToken);
                return;
            }
            catch (Exception ex) when (Refusal(ex) is { } reason)
            {
                throw new InvalidOperationException($"{GatewayOptions.SectionName}:Store:Redis: {reason}");
            }
            catch (Exception ex) when (ex is RedisException or TimeoutException)
            {
                if (Environment.TickCount64 >= deadline)
                {
                    return;
                }

                await Task.Delay(50, cancellationToken);
            }
        }
    }

    /// <summary>
    /// A read of the store's own slot from its primary: on a cluster a bare PING goes to any node, and answered while the
    /// node holding the store's keys was frozen or the cluster was down.
    /// </summary>
    public async Task PingAsync(CancellationToken cancellationToken) =>
        await RedisCalls.Guard(() => Db.KeyExistsAsync(_keys.Orgs, CommandFlags.DemandMaster), cancellationToken);

    public async Task CreateOrganizationAsync(Organization organization, ApiKeyRecord defaultKey, AuditEntry audit, CancellationToken cancellationToken)
    {
        await EnsureOnePrimaryAsync(cancellationToken);
        var result = await EvalAsync(
            RedisScripts.CreateOrganization,
            [_keys.Org(organization.Id), _keys.Orgs, _keys.OrgKeys(organization.Id), _keys.OrgNames(organization.Id), _keys.Key(defaultKey.Id), _keys.Hash(defaultKey.Hash), _keys.OrgAudit(organization.Id)],
            [organization.Id, Json(organization), defaultKey.Id, Json(defaultKey), defaultKey.Name, defaultKey.Version, Json(audit)], cancellationToken);
        Check(result);
        await AwaitReplicaAsync(cancellationToken);
    }

    public async Task<Organization?> GetOrganizationAsync(string id, CancellationToken cancellationToken)
    {
        var json = await RedisCalls.Guard(() => Db.StringGetAsync(_keys.Org(id)), cancellationToken);
        return json.IsNull ? null : JsonSerializer.Deserialize((string)json!, RedisJsonContext.Default.Organization);
    }

    public async Task<IReadOnlyList<Organization>> ListOrganizationsAsync(CancellationToken cancellationToken)
    {
        var ids = await RedisCalls.Guard(() => Db.SetMembersAsync(_keys.Orgs), cancellationToken);
        if (ids.Length == 0)
        {
            return [];
        }

        var values = await RedisCalls.Guard(() => Db.StringGetAsync(ids.Select(id => _keys.Org(id!)).ToArray()), cancellationToken);
        return values.Where(v => !v.IsNull)
            .Select(v => JsonSerializer.Deserialize((string)v!, RedisJsonContext.Default.Organization)!)
            .OrderBy(o => o.Id, StringComparer.Ordinal)
            .ToList();
    }

    public async Task CreateKeyAsync(ApiKeyRecord key, AuditEntry audit, CancellationToken cancellationToken)
    {
        await EnsureOnePrimaryAsync(cancellationToken);
        var result = await EvalAsync(
            RedisScripts.CreateKey,
            [_keys.Org(key.OrgId), _keys.OrgKeys(key.OrgId), _keys.OrgNames(key.OrgId), _keys.Key(key.Id), _keys.Hash(key.Hash), _keys.OrgAudit(key.OrgId)],
            [key.Id, Json(key), key.Name, key.Version, Json(audit)], cancellationToken);
        Check(result);
        await AwaitReplicaAsync(cancellationToken);
    }

    public async Task UpdateKeyAsync(ApiKeyRecord key, long expectedVersion, AuditEntry audit, CancellationToken cancellationToken)
    {
        await EnsureOnePrimaryAsync(cancellationToken);
        // The hash-index keys to change come from the stored record; the script re-checks its version, so
        // if another writer got in between, this call fails instead of touching the wrong index entries.
        var current = await GetKeyAsync(key.Id, cancellationToken)
            ?? throw StoreConcurrencyException.KeyGone(key.Id);
        if (current.Version != expectedVersion)
        {
            throw StoreConcurrencyException.KeyChanged(key.Id);
        }

        var before = new[] { current.Hash, current.PreviousHash }.OfType<string>().ToHashSet(StringComparer.Ordinal);
        var after = new[] { key.Hash, key.PreviousHash }.OfType<string>().ToHashSet(StringComparer.Ordinal);
        var deletes = before.Except(after).Select(h => _keys.Hash(h)).ToList();
        var points = after.Select(h => _keys.Hash(h)).ToList();

        var result = await EvalAsync(
            RedisScripts.UpdateKey,
            [_keys.Key(key.Id), _keys.OrgNames(key.OrgId), _keys.OrgAudit(key.OrgId), .. deletes, .. points],
            [key.Id, expectedVersion, key.Version, Json(key with { LastUsedAt = null }), current.Name, key.Name, key.State == KeyState.Revoked ? "1" : "0", deletes.Count, Json(audit)], cancellationToken);
        Check(result);
        await AwaitReplicaAsync(cancellationToken);
    }

    public async Task<ApiKeyRecord?> GetKeyAsync(string id, CancellationToken cancellationToken)
    {
        var db = Db;
        var json = db.HashGetAsync(_keys.Key(id), "json");
        var used = db.HashGetAsync(_keys.Usage, id);
        await RedisCalls.Guard(() => Task.WhenAll(json, used), cancellationToken);
        return Read(json.Result, used.Result);
    }

    /// <summary>
    /// The hash's key id, then the key and its last use, in one script: a key cache miss is one command and one
    /// round trip instead of three commands in two. The key's own name is built in the script from the id; it
    /// shares the <c>{store}</c> hash tag with the declared keys, so it is in their slot on a Redis Cluster.
    /// </summary>
    private const string FindByHashScript = """
        local id = redis.call('HGET', KEYS[1], 'id')
        if not id then return false end
        return { redis.call('HGET', ARGV[1] .. id, 'json'), redis.call('HGET', KEYS[2], id) }
        """;

    public async Task<ApiKeyRecord?> FindKeyByHashAsync(string hash, CancellationToken cancellationToken)
    {
        var found = await RedisCalls.Guard(() => Db.ScriptEvaluateAsync(FindByHashScript, [_keys.Hash(hash), _keys.Usage], [_keys.KeyNamePrefix]), cancellationToken);
        if (found.IsNull)
        {
            return null;
        }

        var parts = (RedisResult[])found!;
        return Read((RedisValue)parts[0], (RedisValue)parts[1]);
    }

    public async Task<IReadOnlyList<ApiKeyRecord>> ListKeysAsync(string orgId, CancellationToken cancellationToken)
    {
        var ids = await RedisCalls.Guard(() => Db.SetMembersAsync(_keys.OrgKeys(orgId)), cancellationToken);
        var keys = new List<ApiKeyRecord>(ids.Length);
        // Pipelined a chunk at a time: one round trip per key made a list of 10,000 keys 10,000 round trips long.
        foreach (var chunk in ids.Chunk(1000))
        {
            var read = await Task.WhenAll(chunk.Select(id => GetKeyAsync(id!, cancellationToken)));
            keys.AddRange(read.OfType<ApiKeyRecord>());
        }

        return keys.OrderBy(k => k.CreatedAt).ThenBy(k => k.Id, StringComparer.Ordinal).ToList();
    }

    public async Task<AuditPage> ListAuditAsync(string orgId, string? cursor, int limit, CancellationToken cancellationToken)
    {
        if (cursor is not null && !IsStreamId(cursor))
        {
            throw new StoreCursorException();
        }

        // Newest first; the cursor is the last stream id returned, excluded from the next page.
        var start = cursor is null ? "+" : "(" + cursor;
        var entries = await RedisCalls.Guard(() => Db.StreamRangeAsync(_keys.OrgAudit(orgId), minId: "-", maxId: start, count: limit + 1, messageOrder: Order.Descending), cancellationToken);
        var items = entries.Take(limit)
            .Select(e => JsonSerializer.Deserialize((string)e["e"]!, RedisJsonContext.Default.AuditEntry)!)
            .ToList();
        return new AuditPage(items, entries.Length > limit ? entries[limit - 1].Id.ToString() : null);
    }

    /// <summary>Keys per last-used script call: 2,000 arguments of 32 bytes stay off the large-object heap.</summary>
    internal const int KeysPerUsageCall = 1000;

    public async Task RecordKeyUsageAsync(IReadOnlyCollection<KeyValuePair<string, DateTimeOffset>> usage, CancellationToken cancellationToken)
    {
        if (usage.Count == 0)
        {
            return;
        }

        // In calls of KeysPerUsageCall keys: one call for every key used in a flush interval held Redis (single-threaded)
        // for tens of milliseconds with 100,000 keys in use, and its arguments were large-object arrays. Times only
        // ever move forward, so a retry after a failed call writes nothing twice.
        foreach (var part in usage.Chunk(KeysPerUsageCall))
        {
            var args = new RedisValue[part.Length * 2];
            for (var i = 0; i < part.Length; i++)
            {
                args[2 * i] = part[i].Key;
                args[(2 * i) + 1] = part[i].Value.ToUnixTimeMilliseconds();
            }

            await EvalAsync(RedisScripts.RecordUsage, [_keys.Usage], args, cancellationToken);
        }
    }

    /// <summary>
    /// Copies records from another store into this one (ids and hashes kept) without ever losing anything
    /// Redis already holds. Each key written carries a record of the copy (field <c>copied</c>: the Redis
    /// version written, the key hash written and a fingerprint of the source record), so a later run can tell
    /// which side changed the key since: a key changed only in the source is updated, a key changed only on
    /// Redis is left untouched, and a key changed on both sides is a conflict, left as Redis has it and
    /// reported (unless <paramref name="keepRedisOnConflict"/>: then the source's state is recorded as seen
    /// and dropped). The two sides' versions are never compared with each other: they are independent
    /// counters. A key revoked on Redis is never overwritten. The org is created only if missing, audit
    /// entries are appended only when their id is not in the stream yet (and not for keys left in conflict),
    /// and the hashes of every key written are published so running gateways drop what they cached.
    /// </summary>
    public async Task<ImportResult> ImportAsync(Organization organization, IReadOnlyList<ApiKeyRecord> keys, IReadOnlyList<AuditEntry> auditOldestFirst, bool keepRedisOnConflict, CancellationToken cancellationToken)
    {
        var db = Db;
        var result = new ImportResult
        {
            OrganizationCreated = await RedisCalls.Guard(() => db.StringSetAsync(_keys.Org(organization.Id), Json(organization), when: When.NotExists), cancellationToken),
        };
        await RedisCalls.Guard(() => db.SetAddAsync(_keys.Orgs, organization.Id), cancellationToken);

        var changed = new HashSet<string>(StringComparer.Ordinal);
        var skipped = new HashSet<string>(StringComparer.Ordinal);
        var usage = new List<KeyValuePair<string, DateTimeOffset>>();
        foreach (var key in keys)
        {
            var fingerprint = Fingerprint(key);
            // Read apart, but every write below is conditional on the version read here.
            var current = await GetKeyAsync(key.Id, cancellationToken);
            var copied = CopyRecord.Parse(await RedisCalls.Guard(() => db.HashGetAsync(_keys.Key(key.Id), "copied"), cancellationToken));

            string? conflict = null;
            var written = false;
            if (current is null)
            {
                conflict = await WriteImportAsync(key, null, key.Version, fingerprint, changed, cancellationToken);
                if (conflict is null)
                {
                    result.KeysCreated++;
                    written = true;
                }
            }
            else if (copied is null)
            {
                // Copied by a migrate-store that kept no record of the copy, or made on Redis under the same id:
                // only an identical record tells that neither side changed.
                if (Fingerprint(current) == fingerprint)
                {
                    await MarkCopiedAsync(current, fingerprint, cancellationToken);
                    result.KeysUnchanged++;
                }
                else
                {
                    conflict = "differs from the SQLite record and no record of an earlier copy says which side changed it";
                }
            }
            else
            {
                var changedOnRedis = current.Version != copied.Version || current.Hash != copied.Hash;
                var changedInSource = fingerprint != copied.Fingerprint;
                if (!changedInSource)
                {
                    if (changedOnRedis)
                    {
                        result.KeysChangedOnRedis++;
                    }
                    else
                    {
                        result.KeysUnchanged++;
                    }
                }
                else if (changedOnRedis)
                {
                    conflict = $"changed on both sides since the last copy (Redis version {copied.Version} → {current.Version}{(current.State == KeyState.Revoked ? ", revoked on Redis" : "")})";
                }
                else if (current.State == KeyState.Revoked)
                {
                    // Cannot follow from a revoked source record (revoked keys do not change), but a revoked key
                    // is never revived, whatever the source says.
                    conflict = "revoked on Redis";
                }
                else
                {
                    // Redis's own counter goes on from where Redis is; the source's version means nothing here.
                    conflict = await WriteImportAsync(key, current, current.Version + 1, fingerprint, changed, cancellationToken);
                    if (conflict is null)
                    {
                        result.KeysUpdated++;
                        written = true;
                    }
                }
            }

            if (conflict is null)
            {
                if (written && key.LastUsedAt is { } used)
                {
                    usage.Add(new(key.Id, used));
                }

                continue;
            }

            var item = new ImportedKey(key.Id, key.OrgId, key.Name, conflict);
            if (conflict == NameTaken)
            {
                result.NameTaken.Add(item);
                skipped.Add(key.Id);
            }
            else if (keepRedisOnConflict && current is not null && await MarkCopiedAsync(current, fingerprint, cancellationToken))
            {
                result.ConflictsKeptRedis.Add(item);
            }
            else
            {
                result.Conflicts.Add(item);
                skipped.Add(key.Id);
            }
        }

        await RecordKeyUsageAsync(usage, cancellationToken);

        // Entry ids already in the stream: a second run appends only what the first did not copy. The
        // entries of a key that was not copied would describe a state Redis does not hold: they wait for
        // the run that copies the key (or settles its conflict).
        var stream = await RedisCalls.Guard(() => db.StreamRangeAsync(_keys.OrgAudit(organization.Id)), cancellationToken);
        var present = stream.Select(e => JsonSerializer.Deserialize((string)e["e"]!, RedisJsonContext.Default.AuditEntry)!.Id).ToHashSet(StringComparer.Ordinal);
        foreach (var entry in auditOldestFirst.Where(e => !present.Contains(e.Id) && (e.KeyId is null || !skipped.Contains(e.KeyId))))
        {
            await RedisCalls.Guard(() => db.StreamAddAsync(_keys.OrgAudit(organization.Id), "e", Json(entry)), cancellationToken);
            result.AuditAppended++;
        }

        if (changed.Count > 0)
        {
            await RedisCalls.Guard(() => redis.GetSubscriber().PublishAsync(_keys.Changes, JsonSerializer.Serialize(changed.ToArray(), RedisJsonContext.Default.StringArray)), cancellationToken);
        }

        return result;
    }

    private const string NameTaken = "its name is taken in Redis by another key that is not revoked";

    /// <summary>Writes <paramref name="key"/> if Redis still holds <paramref name="current"/>; null when written, else why not.</summary>
    private async Task<string?> WriteImportAsync(ApiKeyRecord key, ApiKeyRecord? current, long version, string fingerprint, HashSet<string> changed, CancellationToken cancellationToken)
    {
        var before = new[] { current?.Hash, current?.PreviousHash }.OfType<string>().ToHashSet(StringComparer.Ordinal);
        var after = new[] { key.Hash, key.PreviousHash }.OfType<string>().ToHashSet(StringComparer.Ordinal);
        var deletes = before.Except(after).Select(h => _keys.Hash(h)).ToList();
        var points = after.Select(h => _keys.Hash(h)).ToList();
        var written = key with { Version = version, LastUsedAt = null };
        var outcome = await EvalAsync(
            RedisScripts.ImportKey,
            [_keys.Key(key.Id), _keys.OrgKeys(key.OrgId), _keys.OrgNames(key.OrgId), .. deletes, .. points],
            [key.Id, current is null ? "" : current.Version, version, Json(written), current?.Name ?? "", key.Name, key.State == KeyState.Revoked ? "1" : "0", deletes.Count, new CopyRecord(version, key.Hash, fingerprint).ToString()],
            cancellationToken);
        switch (outcome)
        {
            case "ok":
                changed.UnionWith(before);
                changed.UnionWith(after);
                return null;
            case "conflict:name":
                return NameTaken;
            default:
                return "changed on Redis while this copy ran; run it again";
        }
    }

    /// <summary>Records that the source's current state of this key has been seen, leaving Redis's record as it is.</summary>
    private async Task<bool> MarkCopiedAsync(ApiKeyRecord current, string fingerprint, CancellationToken cancellationToken) =>
        await EvalAsync(RedisScripts.MarkCopied, [_keys.Key(current.Id)], [current.Version, new CopyRecord(current.Version, current.Hash, fingerprint).ToString()], cancellationToken) == "ok";

    /// <summary>SHA-256 of the record as stored, without its last-use time (which is not a change of the key).</summary>
    private static string Fingerprint(ApiKeyRecord key) =>
        Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(JsonSerializer.SerializeToUtf8Bytes(key with { LastUsedAt = null }, RedisJsonContext.Default.ApiKeyRecord)));

    /// <summary>
    /// What the last copy wrote (or settled) for one key: the Redis version and key hash it left, and the
    /// fingerprint of the source record it came from. Stored as <c>version:hash:fingerprint</c>.
    /// </summary>
    private sealed record CopyRecord(long Version, string Hash, string Fingerprint)
    {
        public static CopyRecord? Parse(RedisValue value)
        {
            var parts = value.IsNullOrEmpty ? [] : ((string)value!).Split(':');
            return parts.Length == 3 && long.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out var version)
                ? new CopyRecord(version, parts[1], parts[2])
                : null;
        }

        public override string ToString() => string.Create(CultureInfo.InvariantCulture, $"{Version}:{Hash}:{Fingerprint}");
    }

    private static ApiKeyRecord? Read(RedisValue json, RedisValue used)
    {
        if (json.IsNull)
        {
            return null;
        }

        // From the reply's bytes: a UTF-16 copy of the record first (about 1.2 KB) was most of what a cache miss, and the
        // warm-up at start for every key, allocated besides the record itself.
        var key = JsonSerializer.Deserialize(((ReadOnlyMemory<byte>)json).Span, RedisJsonContext.Default.ApiKeyRecord)!;
        return used.IsNull ? key : key with { LastUsedAt = DateTimeOffset.FromUnixTimeMilliseconds((long)used) };
    }

    private async Task<string> EvalAsync(string script, RedisKey[] keys, RedisValue[] values, CancellationToken cancellationToken)
    {
        var result = await RedisCalls.Guard(() => Db.ScriptEvaluateAsync(script, keys, values), cancellationToken);
        return (string)result!;
    }

    /// <summary>
    /// WAIT 1 on the primary's connection (the one the write went over), bounded well below the store
    /// timeout. A replica that does not confirm in time does not fail the call: the write is applied on
    /// the primary and answering 503 would invite a retry of a change that happened (a second rotation,
    /// a name conflict). It is logged instead; such a write can be lost if the primary dies before it
    /// replicates.
    /// </summary>
    private async Task AwaitReplicaAsync(CancellationToken cancellationToken)
    {
        // Behind Sentinel a replica is there to be promoted: admin writes are answered only once it has
        // them, so a failover right after the answer does not lose them (docs/redis.md, "Failover").
        if (_primaryGuard is null)
        {
            return;
        }

        try
        {
            var acknowledged = (long)await Db.ExecuteAsync("WAIT", [1, _replicaWaitMillis], CommandFlags.DemandMaster).WaitAsync(cancellationToken);
            if (acknowledged < 1)
            {
                Log.NotReplicated(_logger, _replicaWaitMillis);
            }
            else
            {
                return;
            }
        }
        catch (Exception ex) when (ex is RedisException or TimeoutException)
        {
            Log.ReplicaWaitFailed(_logger, ex);
        }

        // No replica has it: the write may have gone to a returning old primary that the sentinels will wipe.
        await EnsureOnePrimaryAsync(cancellationToken);
    }

    private Task EnsureOnePrimaryAsync(CancellationToken cancellationToken) =>
        _primaryGuard?.EnsureOnePrimaryAsync(cancellationToken) ?? Task.CompletedTask;

    public void Dispose() => _primaryGuard?.Dispose();

    /// <summary>Why Redis turned this client away, when it did and waiting will not change it; null for "not reachable".</summary>
    private static string? Refusal(Exception exception)
    {
        var credentials = false;
        for (var current = exception; current is not null; current = current.InnerException)
        {
            // The client reports a failed TLS handshake as an authentication failure too: tell them apart.
            if (current is System.Security.Authentication.AuthenticationException)
            {
                return $"Redis's TLS certificate was not accepted; check {GatewayOptions.SectionName}:Store:RedisCaFile (the CA that signed it) and that the host in the connection string (or sslHost=) is a name in the certificate.";
            }

            credentials |= current is RedisConnectionException { FailureType: ConnectionFailureType.AuthenticationFailure }
                || current.Message.Contains("WRONGPASS", StringComparison.Ordinal)
                || current.Message.Contains("NOAUTH", StringComparison.Ordinal);
        }

        return credentials ? "Redis refused the credentials; check password= (and user= for an ACL user) in the connection string and that the user is enabled." : null;
    }

    private static void Check(string result)
    {
        switch (result)
        {
            case "ok":
                return;
            case "conflict:id":
                throw StoreConflictException.OrganizationId();
            case "conflict:name":
                throw StoreConflictException.KeyName();
            case "notfound":
                throw StoreNotFoundException.OrganizationOrKey();
            case "version":
                throw StoreConcurrencyException.KeyChanged();
            default:
                throw new InvalidOperationException($"Unexpected script result '{result}'.");
        }
    }

    private static bool IsStreamId(string cursor)
    {
        var dash = cursor.IndexOf('-', StringComparison.Ordinal);
        return dash > 0
            && ulong.TryParse(cursor.AsSpan(0, dash), NumberStyles.None, CultureInfo.InvariantCulture, out _)
            && ulong.TryParse(cursor.AsSpan(dash + 1), NumberStyles.None, CultureInfo.InvariantCulture, out _);
    }

    private static string Json(ApiKeyRecord key) => JsonSerializer.Serialize(key, RedisJsonContext.Default.ApiKeyRecord);

    private static string Json(Organization org) => JsonSerializer.Serialize(org, RedisJsonContext.Default.Organization);

    private static string Json(AuditEntry entry) => JsonSerializer.Serialize(entry, RedisJsonContext.Default.AuditEntry);

    private static partial class Log
    {
        [LoggerMessage(EventId = EventIds.StoreReplicaNotConfirmed, Level = LogLevel.Warning, Message = "No replica confirmed an admin write within {Millis} ms; it is on the primary but would be lost if the primary failed now.")]
        public static partial void NotReplicated(ILogger logger, long millis);

        [LoggerMessage(EventId = EventIds.StoreReplicaWaitFailed, Level = LogLevel.Warning, Message = "Could not confirm that a replica has an admin write; it is on the primary but would be lost if the primary failed now.")]
        public static partial void ReplicaWaitFailed(ILogger logger, Exception exception);
    }
}

/// <summary>What <see cref="RedisGatewayStore.ImportAsync"/> did with one organization.</summary>
internal sealed class ImportResult
{
    public bool OrganizationCreated { get; set; }

    /// <summary>Keys Redis did not have, written.</summary>
    public int KeysCreated { get; set; }

    /// <summary>Keys changed only in the source since the last copy, written.</summary>
    public int KeysUpdated { get; set; }

    /// <summary>Keys neither side changed since the last copy: untouched.</summary>
    public int KeysUnchanged { get; set; }

    /// <summary>Keys changed only on Redis since the last copy: untouched.</summary>
    public int KeysChangedOnRedis { get; set; }

    public int AuditAppended { get; set; }

    /// <summary>Keys changed on both sides (or revoked on Redis while the source changed): not written.</summary>
    public List<ImportedKey> Conflicts { get; } = [];

    /// <summary>Such conflicts settled in Redis's favour (<c>--keep-redis</c>): Redis's record untouched, the source's change dropped.</summary>
    public List<ImportedKey> ConflictsKeptRedis { get; } = [];

    /// <summary>Keys not written because another live key in Redis has their name.</summary>
    public List<ImportedKey> NameTaken { get; } = [];
}

/// <summary>A key the copy did not write, and why.</summary>
internal sealed record ImportedKey(string Id, string OrgId, string Name, string Reason);
