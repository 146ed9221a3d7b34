using Gateway.Configuration;
using Microsoft.Extensions.Configuration;

namespace Gateway.Tests.Configuration;

/// <summary>
/// Settings the binder would drop without a word (a list given as one value, a dictionary entry with a value it cannot
/// convert) or Kestrel would refuse with a stack trace (a listener URL it cannot read) stop the start with a line naming
/// the setting.
/// </summary>
public sealed class SettingsShapeValidatorTests
{
    [TestCase("Gateway:StripHeaders", "X-Internal-Secret", "Gateway:StripHeaders is a list: give each entry its own index (Gateway__StripHeaders__0")]
    [TestCase("Gateway:TrustedProxies", "127.0.0.1", "Gateway:TrustedProxies is a list")]
    [TestCase("Gateway:Scopes", "read", "Gateway:Scopes is a list")]
    [TestCase("Gateway:Admin:TrustedProxies", "10.0.0.1", "Gateway:Admin:TrustedProxies is a list")]
    [TestCase("Kestrel:Endpoints:Admin:Url", "notaurl", "Kestrel:Endpoints:Admin:Url must be an http:// or https:// URL")]
    [TestCase("Kestrel:Endpoints:Proxy:Url", "http://127.0.0.1:99999", "Kestrel:Endpoints:Proxy:Url must have a port from 0 to 65535 (got 'http://127.0.0.1:99999')")]
    [TestCase("Kestrel:Endpoints:Proxy:Url", "ftp://127.0.0.1:21", "Kestrel:Endpoints:Proxy:Url must start with http:// or https://")]
    [TestCase("Kestrel:Endpoints:Proxy:Url", "http://[::1]", "Kestrel:Endpoints:Proxy:Url must have a port from 0 to 65535")]
    [TestCase("Kestrel:Endpoints:Proxy:Url", "http://127.0.0.1:8080/api", "Kestrel:Endpoints:Proxy:Url must not have a path")]
    [TestCase("Gateway:Plans:pp:Quota", "1000", "Gateway:Plans:pp:Quota is a section of settings")]
    [TestCase("Gateway:Plans:pp:Quota:Limit", "abc", "Failed to convert configuration value 'abc' at 'Gateway:Plans:pp:Quota:Limit'")]
    [TestCase("Gateway:Plans:pp:RateLimit:Window", "1 minute", "Failed to convert configuration value '1 minute' at 'Gateway:Plans:pp:RateLimit:Window'")]
    [TestCase("Gateway:RateLimits:Policies:p:PermitLimit", "10x", "Failed to convert configuration value '10x' at 'Gateway:RateLimits:Policies:p:PermitLimit'")]
    public void Validate_BadShape_FailsNamingTheSetting(string key, string value, string message)
    {
        var result = Validate(new() { [key] = value });

        Assert.That(result.Failed, Is.True);
        Assert.That(result.Failures, Has.Some.StartsWith(message), result.FailureMessage);
    }

    [Test]
    public void Validate_ListsByIndexAndGoodUrls_Succeed()
    {
        var result = Validate(new()
        {
            ["Gateway:StripHeaders:0"] = "X-Internal-Secret",
            ["Gateway:TrustedProxies:0"] = "127.0.0.1",
            ["Gateway:Scopes:0"] = "read",
            ["Gateway:Plans:pp:Quota:Limit"] = "10",
            ["Gateway:Plans:pp:RateLimit:Window"] = "00:01:00",
            ["Gateway:RateLimits:Policies:p:PermitLimit"] = "5",
            ["Kestrel:Endpoints:Admin:Url"] = "https://[::1]:0",
            ["Kestrel:Endpoints:Proxy:Url"] = "http://*:8080",
            ["Kestrel:Endpoints:Extra:Url"] = "http://localhost:5000",
            ["Kestrel:Endpoints:Slash:Url"] = "http://127.0.0.1:5001/",
        });

        Assert.That(result.Succeeded, Is.True, result.FailureMessage);
    }

    private static Microsoft.Extensions.Options.ValidateOptionsResult Validate(Dictionary<string, string?> settings)
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(settings).Build();
        return new SettingsShapeValidator(configuration).Validate(null, new GatewayOptions());
    }
}
