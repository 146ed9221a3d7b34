using StackExchange.Redis;

namespace Gateway.Stores.Redis;

/// <summary>
/// Names of every Redis key the store writes (layout in docs/redis.md). All store keys share the hash
/// tag <c>{store}</c> so multi-key scripts stay in one slot and also run on Redis Cluster.
/// </summary>
internal sealed class RedisKeys(string prefix)
{
    private readonly RedisKey _root = new RedisKey(prefix).Append("{store}:");

    public string Prefix { get; } = prefix;

    public RedisKey Orgs => _root.Append("orgs");

    public RedisKey Usage => _root.Append("usage");

    public RedisChannel Changes => RedisChannel.Literal(Prefix + "{store}:changes");

    public RedisKey Org(string orgId) => _root.Append("org:" + orgId);

    public RedisKey OrgKeys(string orgId) => _root.Append("org:" + orgId + ":keys");

    public RedisKey OrgNames(string orgId) => _root.Append("org:" + orgId + ":names");

    public RedisKey OrgAudit(string orgId) => _root.Append("org:" + orgId + ":audit");

    public RedisKey Key(string keyId) => _root.Append("key:" + keyId);

    public RedisKey Hash(string sha256) => _root.Append("hash:" + sha256);
}
