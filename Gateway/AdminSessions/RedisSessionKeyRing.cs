using System.Xml.Linq;
using Gateway.Configuration;
using Microsoft.AspNetCore.DataProtection.StackExchangeRedis;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace Gateway.AdminSessions;

/// <summary>The Data Protection key ring in the Redis list <c>{prefix}dataprotection-keys</c>, kept by Data Protection's own Redis repository.</summary>
internal sealed class RedisSessionKeyRing(IConnectionMultiplexer redis, IOptions<GatewayOptions> options) : ISessionKeyRing
{
    private readonly RedisXmlRepository _ring = new(() => redis.GetDatabase(), new RedisKey(options.Value.Store.RedisPrefix + SessionKeyProtection.RedisKeySuffix));

    public IReadOnlyCollection<XElement> GetAllElements() => _ring.GetAllElements();

    public void StoreElement(XElement element, string friendlyName) => _ring.StoreElement(element, friendlyName);
}
