using Gateway.Configuration;

namespace Gateway.Tests.Configuration;

/// <summary>Each bad setting is named in the failure, and a good configuration passes.</summary>
public sealed class GatewayOptionsValidatorTests
{
    private static IEnumerable<TestCaseData> BadSettings()
    {
        static TestCaseData Case(string name, Action<GatewayOptions> change, string message) => new TestCaseData(change, message).SetArgDisplayNames(name);

        yield return Case("environment", o => o.Environment = "prod", "Gateway:Environment must be one of");
        yield return Case("key prefix uppercase", o => o.KeyPrefix = "GW", "Gateway:KeyPrefix must match ^[a-z][a-z0-9]{1,9}$");
        yield return Case("key prefix too long", o => o.KeyPrefix = "abcdefghijk", "Gateway:KeyPrefix must match");
        yield return Case("store path", o => o.Store.Path = "", "Gateway:Store:Path must be set");
        yield return Case("redis prefix braces", o => o.Store.RedisPrefix = "{gw}", "Gateway:Store:RedisPrefix must be non-empty and contain no braces");
        yield return Case("store timeout", o => o.Store.Timeout = TimeSpan.Zero, "Gateway:Store:Timeout must be positive");
        yield return Case("admin token short", o => o.Admin.Token = "short", "Gateway:Admin:Token must be at least 32 characters");
        yield return Case("admin token 31 characters", o => o.Admin.Token = "7Kq2Xv9Lm4Rt8Zp3Wn6Yb1Hc5Jd0Fg2", "Gateway:Admin:Token must be at least 32 characters (got 31)");
        yield return Case("admin token space", o => o.Admin.Token = "0123456789 abcdef0123456789abcdef", "Gateway:Admin:Token must be visible ASCII without spaces");
        yield return Case("admin token shipped placeholder", o => o.Admin.Token = "change-me-to-a-long-random-token", "Gateway:Admin:Token looks like a placeholder (contains 'change-me')");
        yield return Case("admin token placeholder case", o => o.Admin.Token = "7Kq2Xv9Lm4Rt8Zp3-ChangeMe-Wn6Yb1Hc5Jd", "Gateway:Admin:Token looks like a placeholder (contains 'changeme')");
        yield return Case("admin token secret", o => o.Admin.Token = "my-Secret-7Kq2Xv9Lm4Rt8Zp3Wn6Yb1Hc5Jd", "Gateway:Admin:Token looks like a placeholder (contains 'secret')");
        yield return Case("admin token xxx", o => o.Admin.Token = "XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX", "Gateway:Admin:Token looks like a placeholder (contains 'xxx')");
        yield return Case("admin token few characters", o => o.Admin.Token = "abababababababababababababababab12", "Gateway:Admin:Token is not random enough (fewer than 10 distinct characters)");
        yield return Case("admin token low entropy", o => o.Admin.Token = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa0123456789", "Gateway:Admin:Token is not random enough (");
        yield return Case("admin trusted proxy", o => o.Admin.TrustedProxies = ["10.0.0.1", "ingress"], "Gateway:Admin:TrustedProxies:1 must be an IP address or CIDR (got 'ingress')");
        yield return Case("admin global attempts", o => o.Admin.GlobalFailedAttempts.PermitLimit = 0, "Gateway:Admin:GlobalFailedAttempts:PermitLimit must be at least 1");
        yield return Case("admin global below per address", o => o.Admin.GlobalFailedAttempts.PermitLimit = 5, "Gateway:Admin:GlobalFailedAttempts:PermitLimit must be at least Gateway:Admin:FailedAttempts:PermitLimit");
        yield return Case("trusted proxy", o => o.TrustedProxies = ["10.0.0.0/33"], "Gateway:TrustedProxies:0 must be an IP address or CIDR");
        yield return Case("workspace permits", o => o.RateLimits.Workspace.PermitLimit = 0, "Gateway:RateLimits:Workspace:PermitLimit must be at least 1");
        yield return Case("ip window short", o => o.RateLimits.Ip.Window = TimeSpan.FromMilliseconds(999), "Gateway:RateLimits:Ip:Window must be between 00:00:01 and 1.00:00:00");
        yield return Case("ip sketch memory zero", o => o.RateLimits.Ip.MaxMemoryMB = 0, "Gateway:RateLimits:Ip:MaxMemoryMB must be between 1 and 4096 (got 0)");
        yield return Case("ip sketch memory huge", o => o.RateLimits.Ip.MaxMemoryMB = 5000, "Gateway:RateLimits:Ip:MaxMemoryMB must be between 1 and 4096");
        yield return Case("ip window long", o => o.RateLimits.Ip.Window = TimeSpan.FromDays(2), "Gateway:RateLimits:Ip:Window must be between");
        yield return Case("scope", o => o.Scopes = ["read", "bad scope"], "Gateway:Scopes:1 must match");
        yield return Case("fresh for", o => o.Cache.FreshFor = TimeSpan.Zero, "Gateway:Cache:FreshFor must be positive");
        yield return Case("stale below fresh", o => o.Cache.StaleFor = TimeSpan.FromMilliseconds(1), "Gateway:Cache:StaleFor must be at least Gateway:Cache:FreshFor");
        yield return Case("max entries", o => o.Cache.MaxEntries = 0, "Gateway:Cache:MaxEntries must be at least 1");
        yield return Case("flush interval", o => o.Usage.FlushInterval = TimeSpan.Zero, "Gateway:Usage:FlushInterval must be positive");
        yield return Case("demo url", o => { o.Demo.Enabled = true; o.Demo.Url = "not a url"; }, "Gateway:Demo:Url must be an http:// or https:// URL");
    }

    [Test]
    public void Validate_Defaults_Succeed()
    {
        var result = new GatewayOptionsValidator().Validate(null, Valid());

        Assert.That(result.Succeeded, Is.True, result.FailureMessage);
    }

    [TestCaseSource(nameof(BadSettings))]
    public void Validate_BadSetting_FailsNamingIt(Action<GatewayOptions> change, string message)
    {
        var options = Valid();
        change(options);

        var result = new GatewayOptionsValidator().Validate(null, options);

        Assert.That(result.Failed, Is.True);
        Assert.That(result.Failures, Has.Some.StartsWith(message));
    }

    [Test]
    public void Validate_SeveralBadSettings_AllNamed()
    {
        var options = Valid();
        options.KeyPrefix = "X";
        options.Environment = "nope";
        options.Cache.MaxEntries = 0;

        var result = new GatewayOptionsValidator().Validate(null, options);

        Assert.That(result.Failures!.Count(), Is.EqualTo(3));
    }

    private static GatewayOptions Valid()
    {
        var options = new GatewayOptions();
        options.Store.Path = "gateway.db";
        options.Scopes = ["read", "write"];
        return options;
    }
}
