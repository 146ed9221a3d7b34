using Gateway.Hosting;
using Gateway.Tests.Common;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace Gateway.Tests.Configuration;

/// <summary>Bad settings stop start-up with a message naming the setting (docs/configuration.md).</summary>
public sealed class StartupValidationTests
{
    [TestCase("Gateway:Environment", "prod", "Gateway:Environment")]
    [TestCase("Gateway:KeyPrefix", "GW", "Gateway:KeyPrefix")]
    [TestCase("Gateway:KeyPrefix", "waytoolongprefix", "Gateway:KeyPrefix")]
    [TestCase("Gateway:TrustedProxies:0", "not-an-ip", "Gateway:TrustedProxies:0")]
    [TestCase("Gateway:RateLimits:Workspace:PermitLimit", "0", "Gateway:RateLimits:Workspace:PermitLimit")]
    [TestCase("Gateway:RateLimits:Ip:Window", "00:00:00", "Gateway:RateLimits:Ip:Window")]
    [TestCase("Gateway:RateLimits:Policies:p:PermitLimit", "-1", "Gateway:RateLimits:Policies:p:PermitLimit")]
    [TestCase("Gateway:RateLimits:Policies:p:PermitLimit", "abc", "Gateway:RateLimits:Policies:p:PermitLimit")]
    [TestCase("Gateway:Plans:pp:Quota:Limit", "abc", "Gateway:Plans:pp:Quota:Limit")]
    [TestCase("Gateway:Plans:pp:Quota:Limit", "10x", "Gateway:Plans:pp:Quota:Limit")]
    [TestCase("Gateway:Plans:pp:Quota:Limit", "", "Gateway:Plans:pp:Quota:Limit")]
    [TestCase("Gateway:Plans:pp:RateLimit:PermitLimit", "abc", "Gateway:Plans:pp:RateLimit:PermitLimit")]
    [TestCase("Gateway:Plans:pp:RateLimit:Window", "abc", "Gateway:Plans:pp:RateLimit:Window")]
    [TestCase("Gateway:Admin:Token", "short", "Gateway:Admin:Token")]
    [TestCase("Gateway:Admin:Token", "change-me-to-a-long-random-token", "Gateway:Admin:Token")]
    [TestCase("Gateway:Admin:TrustedProxies:0", "not-an-ip", "Gateway:Admin:TrustedProxies:0")]
    [TestCase("Gateway:Store:Timeout", "abc", "Gateway:Store:Timeout")]
    [TestCase("Gateway:Cache:MaxEntries", "0", "Gateway:Cache:MaxEntries")]
    [TestCase("Gateway:Scopes:0", "has space", "Gateway:Scopes:0")]
    [TestCase("ReverseProxy:Routes:r:Metadata:Environment", "prod", "ReverseProxy:Routes:r:Metadata:Environment")]
    [TestCase("ReverseProxy:Routes:r:Metadata:RequiredScopes", "read nope", "ReverseProxy:Routes:r:Metadata:RequiredScopes")]
    [TestCase("ReverseProxy:Routes:r:Metadata:Anonymous", "yes", "ReverseProxy:Routes:r:Metadata:Anonymous")]
    [TestCase("ReverseProxy:Routes:r:Metadata:RateLimitPolicy", "missing", "ReverseProxy:Routes:r:Metadata:RateLimitPolicy")]
    [TestCase("ReverseProxy:Routes:r:AuthorizationPolicy", "default", "ReverseProxy:Routes:r:AuthorizationPolicy")]
    [TestCase("ReverseProxy:Routes:r:CorsPolicy", "default", "ReverseProxy:Routes:r:CorsPolicy")]
    [TestCase("Gateway:Signing:Secrets", "abc", "Gateway:Signing:Secrets is a list")]
    [TestCase("Gateway:Signing:Secrets:0", "abc", "Gateway:Signing:Secrets:0 must be an object")]
    [TestCase("Gateway:Signing:Secrets:Id", "k1", "Gateway:Signing:Secrets is a list")]
    [TestCase("Gateway:Admin:Oidc:Scopes", "groups", "Gateway:Admin:Oidc:Scopes is a list")]
    [TestCase("Gateway:Plans:pp", "x", "Gateway:Plans:pp must be an object")]
    [TestCase("Gateway:Plans", "x", "Gateway:Plans is a set of named entries")]
    [TestCase("Gateway:RateLimits:Policies:p", "5", "Gateway:RateLimits:Policies:p must be an object")]
    [TestCase("Gateway:SecretScanning:PublicKeys", "abc", "Gateway:SecretScanning:PublicKeys is a set of named entries")]
    [TestCase("Gateway:Cache", "x", "Gateway:Cache is a section")]
    [TestCase("Gateway:Scopes:3:name", "read", "Gateway:Scopes:3 must be one value")]
    [TestCase("Kestrel:Endpoints:Proxy:Url", "http://127.0.0.1", "Kestrel:Endpoints:Proxy:Url must have a port")]
    [TestCase("Kestrel:Endpoints:Admin:Url", "https://localhost", "Kestrel:Endpoints:Admin:Url must have a port")]
    [TestCase("Kestrel:Endpoints:Proxy:Url", "http://127.0.0.1:0/some/path", "Kestrel:Endpoints:Proxy:Url must not have a path")]
    public void Start_InvalidSetting_FailsNamingIt(string key, string value, string named)
    {
        var settings = GatewayHost.Routes("http://127.0.0.1:1/", ("r", "/r/{**rest}", []));
        settings[key] = value;

        var ex = Assert.CatchAsync(async () => await GatewayHost.StartAsync(settings));

        var message = string.Join(Environment.NewLine, StartupFailure.Describe(ex!));
        Assert.That(message, Does.Contain(named));
    }

    [TestCase("ftp://127.0.0.1:21", "Gateway:Demo:Url must start with http:// or https://")]
    [TestCase("http://127.0.0.1", "Gateway:Demo:Url must have a port")]
    [TestCase("http://127.0.0.1:0/demo", "Gateway:Demo:Url must not have a path")]
    public void Start_DemoOnWithAUrlItCannotListenOn_FailsNamingIt(string url, string named)
    {
        var ex = Assert.CatchAsync(async () => await GatewayHost.StartAsync(new Dictionary<string, string?>
        {
            ["Gateway:Demo:Enabled"] = "true",
            ["Gateway:Demo:Url"] = url,
        }));

        Assert.That(string.Join(Environment.NewLine, StartupFailure.Describe(ex!)), Does.Contain(named));
    }

    [Test]
    public void Start_RouteIdReservedForVerifyUsage_FailsNamingIt()
    {
        // Usage counts verify calls that name no key under the route "(verify)"; a route of that id would share the row.
        var settings = GatewayHost.Routes("http://127.0.0.1:1/", ("(verify)", "/v/{**rest}", []));

        var ex = Assert.CatchAsync(async () => await GatewayHost.StartAsync(settings));

        var message = string.Join(Environment.NewLine, StartupFailure.Describe(ex!));
        Assert.That(message, Does.Contain("ReverseProxy:Routes:(verify)").And.Contain("reserved"));
    }

    [Test]
    public void Start_SeveralInvalidSettings_ReportsEveryOne()
    {
        var ex = Assert.CatchAsync<OptionsValidationException>(async () => await GatewayHost.StartAsync(new Dictionary<string, string?>
        {
            ["Gateway:Environment"] = "qa",
            ["Gateway:KeyPrefix"] = "9x",
            ["Gateway:RateLimits:Ip:PermitLimit"] = "0",
        }));

        Assert.That(ex!.Failures.Count(), Is.EqualTo(3));
    }

    [Test]
    public async Task EnvironmentVariables_OverrideSettings()
    {
        var prefix = $"GWTEST{Guid.NewGuid():N}_";
        Environment.SetEnvironmentVariable(prefix + "Gateway__Environment", "development");
        Environment.SetEnvironmentVariable(prefix + "Gateway__KeyPrefix", "acme");
        try
        {
            // The same provider ASP.NET Core uses, with a unique prefix so parallel tests are not affected.
            await using var gateway = await GatewayHost.StartAsync(services: services => { }, configure: config => config.AddEnvironmentVariables(prefix));
            var options = gateway.Services.GetRequiredService<IOptions<Gateway.Configuration.GatewayOptions>>().Value;
            Assert.That(options.Environment, Is.EqualTo("development"));
            var org = await gateway.CreateOrgAsync("acme");
            Assert.That(org.DefaultKey(), Does.StartWith("acme_dev_"));
        }
        finally
        {
            Environment.SetEnvironmentVariable(prefix + "Gateway__Environment", null);
            Environment.SetEnvironmentVariable(prefix + "Gateway__KeyPrefix", null);
        }
    }

    [Test]
    [System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
    public async Task AdminToken_Unset_GeneratedSavedWithMode0600AndReused()
    {
        var directory = Path.Combine(Path.GetTempPath(), "gw-tests", Guid.NewGuid().ToString("N"));
        var settings = new Dictionary<string, string?> { ["Gateway:Admin:Token"] = "" };
        string token;
        await using (var first = await GatewayHost.StartAsync(settings, directory: directory + "-a"))
        {
            var path = Path.Combine(first.Directory, "admin-token");
            Assert.That(File.Exists(path), Is.True);
            Assert.That(File.GetUnixFileMode(path), Is.EqualTo(UnixFileMode.UserRead | UnixFileMode.UserWrite));
            token = (await File.ReadAllTextAsync(path)).Trim();
            Assert.That(token, Has.Length.GreaterThanOrEqualTo(32));

            using var client = new HttpClient { BaseAddress = first.AdminUrl };
            client.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", token);
            Assert.That((await client.GetAsync("admin/orgs")).StatusCode, Is.EqualTo(System.Net.HttpStatusCode.OK));
            using var withTestToken = await first.Admin.GetAsync("admin/orgs");
            Assert.That(withTestToken.StatusCode, Is.EqualTo(System.Net.HttpStatusCode.Unauthorized), "the configured test token is not in force");

            Directory.CreateDirectory(directory);
            File.Copy(path, Path.Combine(directory, "admin-token"));
        }

        var saved = Path.Combine(directory + "-c", "admin-token");
        await using (var second = await GatewayHost.StartAsync(settings, directory: directory))
        {
            Assert.That((await File.ReadAllTextAsync(Path.Combine(second.Directory, "admin-token"))).Trim(), Is.EqualTo(token), "reused on restart");
            Directory.CreateDirectory(directory + "-c");
            File.Copy(Path.Combine(second.Directory, "admin-token"), saved);
        }

        // A saved token other users could read or write (planted in a shared directory, or loosened) is replaced, not used.
        File.SetUnixFileMode(saved, File.GetUnixFileMode(saved) | UnixFileMode.OtherRead | UnixFileMode.OtherWrite);
        await using var third = await GatewayHost.StartAsync(settings, directory: directory + "-c");
        var replaced = (await File.ReadAllTextAsync(saved)).Trim();
        Assert.That(replaced, Is.Not.EqualTo(token), "a new token");
        Assert.That(File.GetUnixFileMode(saved), Is.EqualTo(UnixFileMode.UserRead | UnixFileMode.UserWrite));
        using var old = new HttpClient { BaseAddress = third.AdminUrl };
        old.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", token);
        Assert.That((await old.GetAsync("admin/orgs")).StatusCode, Is.EqualTo(System.Net.HttpStatusCode.Unauthorized), "the open token is not in force");
    }

    [Test]
    public void AdminToken_Unset_TokenFileUnreadable_FailsNamingTheFileAndTheSetting()
    {
        // A directory where the file should be: an unhandled exception (exit 134) behind Data Protection's stack traces before.
        var directory = Path.Combine(Path.GetTempPath(), "gw-tests", Guid.NewGuid().ToString("N"));
        var path = Path.Combine(directory, "admin-token");
        Directory.CreateDirectory(path);

        var ex = Assert.CatchAsync(async () => await GatewayHost.StartAsync(new Dictionary<string, string?> { ["Gateway:Admin:Token"] = "" }, directory: directory));

        Assert.That(ex, Is.InstanceOf<InvalidOperationException>(), ex!.ToString());
        Assert.That(StartupFailure.Describe(ex).First(), Does.Contain("Gateway:Admin:Token").And.Contain($"'{path}'").And.Contain("directory"));
        Assert.That(Directory.Exists(path), Is.True, "left as it was");
    }

    [Test]
    [System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
    public void AdminToken_Unset_TokenFileHoldsNoUsableToken_FailsNamingTheFileAndKeepsIt()
    {
        var directory = Path.Combine(Path.GetTempPath(), "gw-tests", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(directory);
        var path = Path.Combine(directory, "admin-token");
        File.WriteAllText(path, "short\n");
        File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite);

        // Replaced silently before: whoever used the old token was locked out with nothing in the log to say why.
        var ex = Assert.CatchAsync(async () => await GatewayHost.StartAsync(new Dictionary<string, string?> { ["Gateway:Admin:Token"] = "" }, directory: directory));

        Assert.That(ex, Is.InstanceOf<InvalidOperationException>(), ex!.ToString());
        Assert.That(StartupFailure.Describe(ex).First(), Does.Contain("Gateway:Admin:Token").And.Contain($"'{path}'").And.Not.Contain("short\n"));
        Assert.That(File.ReadAllText(path), Is.EqualTo("short\n"), "the file is left for the operator");
    }

    [Test]
    [System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
    public async Task AdminToken_Unset_TokenFileEmpty_ANewTokenIsGenerated()
    {
        // What a start that died while writing the file leaves: nobody can be using it.
        var directory = Path.Combine(Path.GetTempPath(), "gw-tests", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(directory);
        var path = Path.Combine(directory, "admin-token");
        File.WriteAllText(path, "");
        File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite);

        await using var gateway = await GatewayHost.StartAsync(new Dictionary<string, string?> { ["Gateway:Admin:Token"] = "" }, directory: directory);

        Assert.That((await File.ReadAllTextAsync(path)).Trim(), Does.StartWith("adm_").And.Length.GreaterThanOrEqualTo(32));
    }
}
