using StackExchange.Redis;

namespace Gateway.Stores.Redis;

/// <summary>
/// Names of every Redis key the gateway writes (layout in docs/redis.md), so the prefix and the hash
/// tags are decided in one place. Store keys share the tag <c>{store}</c> so multi-key scripts stay in
/// one slot, usage keys share <c>{usage}</c>, and each limit partition has a tag of its own, so the
/// limiter's keys spread over the slots of a Redis Cluster.
/// </summary>
internal sealed class RedisKeys(string prefix)
{
    private readonly RedisKey _root = new RedisKey(prefix).Append("{store}:");

    // Made once: every key cache miss passes it to the lookup script.
    private string? _keyNamePrefix;

    public string Prefix { get; } = prefix;

    public RedisKey Orgs => _root.Append("orgs");

    public RedisKey Usage => _root.Append("usage");

    public RedisChannel Changes => RedisChannel.Literal(Prefix + "{store}:changes");

    public RedisKey Org(string orgId) => _root.Append("org:" + orgId);

    public RedisKey OrgKeys(string orgId) => _root.Append("org:" + orgId + ":keys");

    public RedisKey OrgNames(string orgId) => _root.Append("org:" + orgId + ":names");

    public RedisKey OrgAudit(string orgId) => _root.Append("org:" + orgId + ":audit");

    public RedisKey Key(string keyId) => _root.Append("key:" + keyId);

    /// <summary>What every <see cref="Key"/> name starts with, for a script that builds one from an id it read.</summary>
    public RedisValue KeyNamePrefix => _keyNamePrefix ??= Key("");

    public RedisKey Hash(string sha256) => _root.Append("hash:" + sha256);

    /// <summary>Ids of every operator token (a set).</summary>
    public RedisKey OperatorTokens => _root.Append("optokens");

    /// <summary>The names of operator tokens that are not revoked, each to its id (a hash), so a live name is unique.</summary>
    public RedisKey OperatorTokenNames => _root.Append("optoken-names");

    /// <summary>One operator token (a hash of its fields).</summary>
    public RedisKey OperatorToken(string id) => _root.Append("optoken:" + id);

    /// <summary>The id of the operator token with this SHA-256.</summary>
    public RedisKey OperatorTokenHash(string sha256) => _root.Append("optoken-hash:" + sha256);

    /// <summary>The root of the usage counters' keys.</summary>
    public RedisKey UsageRoot => new RedisKey(Prefix).Append("{usage}:");

    /// <summary>
    /// The bucket hash of one limit partition (for example <c>ws:acme</c>) and window length, under the partition's own
    /// hash tag. The window is part of the name because bucket ids are Redis time divided by a sixtieth of the window:
    /// under one name, the buckets of a shorter window read as buckets far in the future of a longer one, which never
    /// leave it, so a lengthened window refused for good. Outside the tag, so a partition stays on its slot.
    /// </summary>
    public string RateLimitPartition(string partition, long windowMs) =>
        Prefix + "rl:{" + partition + "}:" + windowMs.ToString(System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>The counter of one quota or credit partition (an integer), under its own hash tag.</summary>
    public RedisKey QuotaCounter(string partition) => new(Prefix + "q:{" + partition + "}");

    /// <summary>The embedded store's count of a quota or credit partition that <c>migrate-store</c> last carried over (same hash tag).</summary>
    public RedisKey QuotaCopied(string partition) => new(Prefix + "q:{" + partition + "}:copied");

    /// <summary>A console session ended by sign-out (the SHA-256 of its CSRF token), until its cookie's own end.</summary>
    public RedisKey EndedAdminSession(string sessionId) => _root.Append("ended-session:" + sessionId);
}
