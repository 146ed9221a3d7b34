using System.Globalization;
using Gateway.Admin;
using Gateway.Configuration;
using Gateway.Domain;
using Gateway.Stores;
using Gateway.Stores.Redis;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace Gateway.Operators;

/// <summary>
/// Operator tokens in Redis under the store's <c>{store}</c> tag (layout in docs/redis.md): a hash per token,
/// a set of ids, the digest to id, and the live names to ids. Revocation and last use each set one field,
/// so neither overwrites the other.
/// </summary>
internal sealed class RedisOperatorTokenStore(IConnectionMultiplexer redis, IOptions<GatewayOptions> options) : IOperatorTokenStore
{
    // One script per change, so a change is one round trip (a WATCHed MULTI is two) and the token, its indexes
    // and its audit entry are written together or not at all.
    // A live name is unique within its organization and among organization-less tokens (whose names appear in every
    // organization's audit log), not across organizations. The names hash holds an organization-less token's name as
    // the field itself (as every name was before names were per organization, so such an old field still counts as
    // taken everywhere), an organization's as "org/name" ('/' is in neither), and "#name" counts the organizations'
    // live tokens of that name, so an organization-less one can be refused without a scan.
    // KEYS: names hash, token hash, id set, digest key, audit stream.
    // ARGV: the token's own name field, id, audit JSON, name, its count field ('' without an organization), field/value pairs.
    private const string CreateScript = """
        if redis.call('HEXISTS', KEYS[1], ARGV[4]) == 1 or redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 then return 0 end
        if ARGV[5] == '' then
          if tonumber(redis.call('HGET', KEYS[1], '#' .. ARGV[4]) or '0') > 0 then return 0 end
        else
          redis.call('HINCRBY', KEYS[1], ARGV[5], 1)
        end
        redis.call('HSET', KEYS[2], unpack(ARGV, 6))
        redis.call('SADD', KEYS[3], ARGV[2])
        redis.call('SET', KEYS[4], ARGV[2])
        redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
        redis.call('XADD', KEYS[5], '*', 'e', ARGV[3])
        return 1
        """;

    // KEYS: token hash, names hash, audit stream. ARGV: revokedAt (ms), audit JSON, id, own name field, count field
    // ('' without an organization), name. A token revoked meanwhile (or removed) is left alone and gets no second entry.
    private const string RevokeScript = """
        if redis.call('EXISTS', KEYS[1]) == 0 or redis.call('HEXISTS', KEYS[1], 'revokedAt') == 1 then return 0 end
        redis.call('HSET', KEYS[1], 'revokedAt', ARGV[1])
        """ + ReleaseName + """
        redis.call('XADD', KEYS[3], '*', 'e', ARGV[2])
        return 1
        """;

    // Frees a revoked token's name (KEYS[2]; ARGV[3..6] as above), also one held under the plain name from before.
    private const string ReleaseName = """
        if redis.call('HGET', KEYS[2], ARGV[4]) == ARGV[3] then
          redis.call('HDEL', KEYS[2], ARGV[4])
          if ARGV[5] ~= '' and redis.call('HINCRBY', KEYS[2], ARGV[5], -1) <= 0 then redis.call('HDEL', KEYS[2], ARGV[5]) end
        elseif redis.call('HGET', KEYS[2], ARGV[6]) == ARGV[3] then
          redis.call('HDEL', KEYS[2], ARGV[6])
        end

        """;

    private readonly RedisKeys _keys = new(options.Value.Store.RedisPrefix);

    private IDatabase Db => redis.GetDatabase();

    // Every call goes through RedisCalls.Guard: a Redis failure is the store's "could not answer" (503), never a 500.
    public Task CreateAsync(OperatorToken token, AuditEntry audit, CancellationToken cancellationToken) =>
        RedisCalls.Guard(() => CreateCoreAsync(token, audit), cancellationToken);

    private async Task CreateCoreAsync(OperatorToken token, AuditEntry audit)
    {
        var (own, count) = NameFields(token);
        RedisValue[] args = [own, token.Id, AuditJson(audit), token.Name, count, .. Fields(token).SelectMany(f => new[] { f.Name, f.Value })];
        RedisKey[] keys = [_keys.OperatorTokenNames, _keys.OperatorToken(token.Id), _keys.OperatorTokens, _keys.OperatorTokenHash(token.Hash), _keys.OrgAudit(audit.OrgId)];
        if ((long)await Db.ScriptEvaluateAsync(CreateScript, keys, args) == 0)
        {
            throw new StoreConflictException("name", $"An admin token named '{token.Name}' exists.");
        }
    }

    public Task<OperatorToken?> FindByHashAsync(string hash, CancellationToken cancellationToken) =>
        RedisCalls.Guard(async () =>
        {
            var id = await Db.StringGetAsync(_keys.OperatorTokenHash(hash));
            return id.IsNullOrEmpty ? null : Read(await Db.HashGetAllAsync(_keys.OperatorToken(id!)));
        }, cancellationToken);

    public Task<OperatorToken?> GetAsync(string id, CancellationToken cancellationToken) =>
        RedisCalls.Guard(async () => Read(await Db.HashGetAllAsync(_keys.OperatorToken(id))), cancellationToken);

    public Task<IReadOnlyList<OperatorToken>> ListAsync(CancellationToken cancellationToken) => RedisCalls.Guard(ListCoreAsync, cancellationToken);

    private async Task<IReadOnlyList<OperatorToken>> ListCoreAsync()
    {
        var db = Db;
        var ids = await db.SetMembersAsync(_keys.OperatorTokens);
        var reads = ids.Select(id => db.HashGetAllAsync(_keys.OperatorToken(id!))).ToArray();
        var tokens = new List<OperatorToken>();
        foreach (var read in reads)
        {
            if (Read(await read) is { } token)
            {
                tokens.Add(token);
            }
        }

        return tokens.OrderBy(t => t.CreatedAt).ThenBy(t => t.Id, StringComparer.Ordinal).ToList();
    }

    /// <summary>
    /// Every token is read and the page cut here: the ids are a set, their order (created, then id) is in the hashes,
    /// and operator tokens are few.
    /// </summary>
    public async Task<IReadOnlyList<OperatorToken>> ListAfterAsync(string? org, TimeIdPosition? after, int? count, CancellationToken cancellationToken)
    {
        var all = await ListAsync(cancellationToken);
        return all.Where(t => (org is null || t.Org == org) && (after is null || after.CompareTo(t.CreatedAt, t.Id) > 0))
            .Take(count ?? int.MaxValue)
            .ToList();
    }

    public Task<OperatorToken?> RevokeAsync(string id, DateTimeOffset at, Func<OperatorToken, AuditEntry> audit, CancellationToken cancellationToken) =>
        RedisCalls.Guard(() => RevokeCoreAsync(id, at, audit, cancellationToken), cancellationToken);

    private async Task<OperatorToken?> RevokeCoreAsync(string id, DateTimeOffset at, Func<OperatorToken, AuditEntry> audit, CancellationToken cancellationToken)
    {
        var token = await GetAsync(id, cancellationToken);
        if (token is null || token.RevokedAt is not null)
        {
            return token;
        }

        var revoked = token with { RevokedAt = at };
        RedisKey[] keys = [_keys.OperatorToken(id), _keys.OperatorTokenNames, _keys.OrgAudit(token.Org ?? OperatorAudit.AllOrgs)];
        RedisValue[] args = [at.ToUnixTimeMilliseconds(), AuditJson(audit(revoked)), .. NameArgs(token)];
        return (long)await Db.ScriptEvaluateAsync(RevokeScript, keys, args) == 1 ? revoked : await GetAsync(id, cancellationToken);
    }

    /// <summary>
    /// Copies a token from another store as it is (id, digest, role, organization, times, revocation), for
    /// <c>migrate-store</c>. A token already on Redis is left as Redis has it, except that a revocation is carried
    /// over: a token revoked in the source must not stay usable on Redis. No audit entry: the source's audit log,
    /// copied with it, already tells the token's story.
    /// </summary>
    internal async Task<OperatorTokenImport> ImportAsync(OperatorToken token, CancellationToken cancellationToken)
    {
        var existing = await GetAsync(token.Id, cancellationToken);
        if (existing is not null)
        {
            if (token.RevokedAt is not { } revokedAt || existing.RevokedAt is not null)
            {
                return OperatorTokenImport.AlreadyThere;
            }

            RedisKey[] keys = [_keys.OperatorToken(token.Id), _keys.OperatorTokenNames];
            RedisValue[] args = [revokedAt.ToUnixTimeMilliseconds(), "", .. NameArgs(existing)];
            await Db.ScriptEvaluateAsync(ImportRevokeScript, keys, args);
            return OperatorTokenImport.Revoked;
        }

        var fields = Fields(token).ToList();
        if (token.LastUsedAt is { } used)
        {
            fields.Add(new("lastUsedAt", used.ToUnixTimeMilliseconds()));
        }

        if (token.RevokedAt is { } revoked)
        {
            fields.Add(new("revokedAt", revoked.ToUnixTimeMilliseconds()));
        }

        // A live token holds its name, under the same rule as on creation; a revoked one holds none.
        var (own, count) = NameFields(token);
        RedisKey[] importKeys = [_keys.OperatorToken(token.Id), _keys.OperatorTokenNames, _keys.OperatorTokens, _keys.OperatorTokenHash(token.Hash)];
        RedisValue[] importArgs = [own, count, token.Name, token.RevokedAt is null ? 1 : 0, token.Id, .. fields.SelectMany(f => new[] { f.Name, f.Value })];
        if ((long)await Db.ScriptEvaluateAsync(ImportScript, importKeys, importArgs) == 1)
        {
            return OperatorTokenImport.Created;
        }

        return await GetAsync(token.Id, cancellationToken) is null ? OperatorTokenImport.NameTaken : OperatorTokenImport.AlreadyThere;
    }

    // A script rather than a WATCHed MULTI/EXEC: the ACL user docs/redis.md recommends has no @transaction commands,
    // and migrate-store runs as that user. Nothing is written unless every check passes.
    // KEYS: token hash, names hash, id set, digest key. ARGV: own name field, count field ('' without an organization),
    // name, 1 when the token is live (holds its name), id, field/value pairs.
    private const string ImportScript = """
        if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
        if ARGV[4] == '1' then
          if redis.call('HEXISTS', KEYS[2], ARGV[3]) == 1 then return 0 end
          if ARGV[2] == '' then
            if redis.call('HEXISTS', KEYS[2], '#' .. ARGV[3]) == 1 then return 0 end
          else
            if redis.call('HEXISTS', KEYS[2], ARGV[1]) == 1 then return 0 end
            redis.call('HINCRBY', KEYS[2], ARGV[2], 1)
          end
          redis.call('HSET', KEYS[2], ARGV[1], ARGV[5])
        end
        redis.call('HSET', KEYS[1], unpack(ARGV, 6))
        redis.call('SADD', KEYS[3], ARGV[5])
        redis.call('SET', KEYS[4], ARGV[5])
        return 1
        """;

    // KEYS: token hash, names hash. ARGV: as RevokeScript's. The migration's revocation: no audit entry.
    private const string ImportRevokeScript = """
        if redis.call('HEXISTS', KEYS[1], 'revokedAt') == 1 then return 0 end
        redis.call('HSET', KEYS[1], 'revokedAt', ARGV[1])
        """ + ReleaseName + """
        return 1
        """;

    /// <summary>The token's own field in the names hash, and the field counting its organization's tokens of that name ('' for none).</summary>
    private static (RedisValue Own, RedisValue Count) NameFields(OperatorToken token) =>
        token.Org is null ? (token.Name, "") : (token.Org + "/" + token.Name, "#" + token.Name);

    private static RedisValue[] NameArgs(OperatorToken token)
    {
        var (own, count) = NameFields(token);
        return [token.Id, own, count, token.Name];
    }

    public Task RecordUseAsync(string id, DateTimeOffset at, CancellationToken cancellationToken) =>
        RedisCalls.Guard(() => Db.HashSetAsync(_keys.OperatorToken(id), "lastUsedAt", at.ToUnixTimeMilliseconds()), cancellationToken);

    private static string AuditJson(AuditEntry audit) => System.Text.Json.JsonSerializer.Serialize(audit, RedisJsonContext.Default.AuditEntry);

    private static HashEntry[] Fields(OperatorToken token)
    {
        var fields = new List<HashEntry>
        {
            new("id", token.Id),
            new("name", token.Name),
            new("role", token.Role.Name()),
            new("hash", token.Hash),
            new("prefix", token.Prefix),
            new("createdAt", token.CreatedAt.ToUnixTimeMilliseconds()),
        };
        if (token.Org is not null)
        {
            fields.Add(new("org", token.Org));
        }

        if (token.CreatedBy is not null)
        {
            fields.Add(new("createdBy", token.CreatedBy));
        }

        if (token.ExpiresAt is { } expires)
        {
            fields.Add(new("expiresAt", expires.ToUnixTimeMilliseconds()));
        }

        return fields.ToArray();
    }

    private static OperatorToken? Read(HashEntry[] entries)
    {
        if (entries.Length == 0)
        {
            return null;
        }

        var fields = entries.ToDictionary(e => e.Name.ToString(), e => e.Value.ToString(), StringComparer.Ordinal);
        if (!fields.TryGetValue("id", out var id) || !fields.TryGetValue("hash", out var hash))
        {
            // Only a lastUsedAt written after the token was removed by hand: nothing to read.
            return null;
        }

        return new OperatorToken(
            id,
            fields["name"],
            AdminRoles.Parse(fields["role"]) ?? throw new InvalidOperationException($"Admin token '{id}' has an unknown role."),
            fields.GetValueOrDefault("org"),
            hash,
            fields["prefix"],
            fields.GetValueOrDefault("createdBy"),
            Time(fields["createdAt"]),
            fields.TryGetValue("expiresAt", out var expires) ? Time(expires) : null,
            fields.TryGetValue("lastUsedAt", out var used) ? Time(used) : null,
            fields.TryGetValue("revokedAt", out var revoked) ? Time(revoked) : null);
    }

    private static DateTimeOffset Time(string ms) => DateTimeOffset.FromUnixTimeMilliseconds(long.Parse(ms, CultureInfo.InvariantCulture));
}

/// <summary>What <see cref="RedisOperatorTokenStore.ImportAsync"/> did with one token.</summary>
internal enum OperatorTokenImport
{
    Created,
    AlreadyThere,

    /// <summary>On Redis already, live there and revoked in the source: revoked on Redis too.</summary>
    Revoked,

    /// <summary>Not copied: a live token on Redis has its name.</summary>
    NameTaken,
}
