using Gateway.Configuration;
using Gateway.Stores.Redis;

namespace Gateway.Tests.Stores;

/// <summary>
/// A connection string StackExchange.Redis cannot use is refused with the setting's name at start: the client reads
/// any text as host names, and the gateway then ran without ever becoming ready.
/// </summary>
public sealed class RedisConnectionStringValidatorTests
{
    [TestCase("redis://127.0.0.1:6379", "Gateway:Store:Redis is a URL, not a StackExchange.Redis connection string")]
    [TestCase("127.0.0.1:notaport", "Gateway:Store:Redis names '127.0.0.1:notaport', which is not host:port")]
    [TestCase("127.0.0.1:6379,foo=bar", "Gateway:Store:Redis is not a StackExchange.Redis connection string (Keyword 'foo' is not supported")]
    [TestCase("127.0.0.1:6379,ssl=maybe", "Gateway:Store:Redis is not a StackExchange.Redis connection string")]
    [TestCase("garbage,,=", "Gateway:Store:Redis names '=', which is not a host name or address")]
    [TestCase("password=x", "Gateway:Store:Redis names no server")]
    public void Validate_Unusable_FailsNamingTheSetting(string redis, string message)
    {
        var result = Validate(redis);

        Assert.That(result.Failed, Is.True);
        Assert.That(result.Failures, Has.Some.StartsWith(message), result.FailureMessage);
    }

    [TestCase("127.0.0.1:6379")]
    [TestCase("localhost")]
    [TestCase("[::1]:6379")]
    [TestCase("10.0.0.5:26379,10.0.0.6:26379,10.0.0.7:26379,serviceName=gateway")]
    [TestCase("redis.example.com:6380,ssl=true,user=gw,password=s3cret=x,abortConnect=false")]
    [TestCase("")]
    public void Validate_Usable_Succeeds(string redis)
    {
        var result = Validate(redis);

        Assert.That(result.Succeeded, Is.True, result.FailureMessage);
    }

    private static Microsoft.Extensions.Options.ValidateOptionsResult Validate(string redis)
    {
        var options = new GatewayOptions();
        options.Store.Redis = redis;
        return new RedisConnectionStringValidator().Validate(null, options);
    }
}
