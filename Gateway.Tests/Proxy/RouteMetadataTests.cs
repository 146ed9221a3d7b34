using System.Net;
using Gateway.Configuration;
using Gateway.Hosting;
using Gateway.Tests.Common;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace Gateway.Tests.Proxy;

/// <summary>A route metadata key the gateway does not know (a misspelt <c>RequiredScope</c>) never leaves a route open.</summary>
public sealed class RouteMetadataTests : UpstreamFixture
{
    // Three scopes, replacing the test defaults' three; route a requires read.
    private const string WithRead = """{ "Gateway": { "Scopes": [ "read", "write", "admin" ] }""";
    private const string WithoutRead = """{ "Gateway": { "Scopes": [ "billing", "write", "admin" ] }""";
    private const string Route = """, "ReverseProxy": { "Routes": { "a": { "ClusterId": "upstream", "Match": { "Path": "/a/{**rest}" }, "Metadata": { "RequiredScopes": "read" } } } }""";

    [TestCase("RequiredScope", "admin")]
    [TestCase("Anonymus", "false")]
    [TestCase("RateLimit", "tight")]
    public void Start_UnknownMetadataKey_FailsNamingRouteAndKey(string key, string value)
    {
        var settings = GatewayHost.Routes(Upstream.Url, ("admin", "/admin-api/{**rest}", [(key, value)]));

        var ex = Assert.CatchAsync(async () => await GatewayHost.StartAsync(settings));

        Assert.That(string.Join(Environment.NewLine, StartupFailure.Describe(ex!)), Does.Contain($"ReverseProxy:Routes:admin:Metadata:{key}"));
    }

    [Test]
    public async Task Start_KnownKeysInAnyCase_Start()
    {
        var settings = GatewayHost.Routes(Upstream.Url, ("r", "/r/{**rest}", [("requiredscopes", "read"), ("ENVIRONMENT", "production"), ("anonymous", "false"), ("ratelimitpolicy", "")]));

        await using var gateway = await GatewayHost.StartAsync(settings);

        Assert.That(await gateway.StatusAsync(null, "/r/x"), Is.EqualTo(HttpStatusCode.Unauthorized));
    }

    [Test]
    public async Task Reload_UnknownMetadataKey_RefusedAndPreviousRoutesKept()
    {
        await using var gateway = await GatewayHost.StartAsync(GatewayHost.Routes(Upstream.Url, ("api", "/api/{**rest}", [("RequiredScopes", "read")])));
        await gateway.CreateOrgAsync("acme");
        var key = (await gateway.CreateKeyAsync("acme", new { name = "k", scopes = new[] { "read" } })).Str("key");
        var configuration = (IConfigurationRoot)gateway.Services.GetRequiredService<IConfiguration>();

        // A good reload applies: the route key spelt right.
        configuration["ReverseProxy:Routes:admin:ClusterId"] = "upstream";
        configuration["ReverseProxy:Routes:admin:Match:Path"] = "/admin-api/{**rest}";
        configuration["ReverseProxy:Routes:admin:Metadata:RequiredScopes"] = "admin";
        configuration.Reload();
        await GatewayHost.WaitForAsync(async () => await gateway.StatusAsync(key, "/admin-api/x") == HttpStatusCode.Forbidden, TimeSpan.FromSeconds(10));

        // A reload with a misspelt key is refused as a whole: the new route does not appear, the others stay.
        configuration["ReverseProxy:Routes:other:ClusterId"] = "upstream";
        configuration["ReverseProxy:Routes:other:Match:Path"] = "/other/{**rest}";
        configuration["ReverseProxy:Routes:other:Metadata:RequiredScope"] = "admin";
        configuration.Reload();

        Assert.That(await gateway.StatusAsync(key, "/other/x"), Is.EqualTo(HttpStatusCode.NotFound));
        Assert.That(await gateway.StatusAsync(key, "/admin-api/x"), Is.EqualTo(HttpStatusCode.Forbidden));
        Assert.That(await gateway.StatusAsync(key, "/api/x"), Is.EqualTo(HttpStatusCode.OK));
    }

    [Test]
    public async Task Reload_RemovesAPolicyARouteStillNames_RefusedAndThePolicyStaysInForce()
    {
        // A file, so that a reload can take a setting away (the in-memory source can only blank it).
        var directory = Path.Combine(Path.GetTempPath(), "gw-tests", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(directory);
        var file = Path.Combine(directory, "limits.json");
        const string Writes = """{ "Gateway": { "RateLimits": { "Policies": { "writes": { "PermitLimit": 5, "Window": "00:01:00" } } } } }""";
        const string Route = """, "ReverseProxy": { "Routes": { "w": { "ClusterId": "upstream", "Match": { "Path": "/w/{**rest}" }, "Metadata": { "RateLimitPolicy": "writes" } } } }""";
        await File.WriteAllTextAsync(file, Writes[..^1] + Route + " }");
        await using var gateway = await GatewayHost.StartAsync(
            GatewayHost.Routes(Upstream.Url, ("api", "/api/{**rest}", [])),
            configure: config => config.AddJsonFile(file, optional: false, reloadOnChange: false));
        var key = (await gateway.CreateOrgAsync("acme")).DefaultKey();
        var configuration = (IConfigurationRoot)gateway.Services.GetRequiredService<IConfiguration>();
        var monitor = gateway.Services.GetRequiredService<IOptionsMonitor<GatewayOptions>>();

        // The policy taken away while route w still names it: refused, as a start with that file is.
        await File.WriteAllTextAsync(file, """{ "Gateway": { "RateLimits": { "Policies": { } } }""" + Route + " }");
        configuration.Reload();

        Assert.That(monitor.CurrentValue.RateLimits.Policies.Keys, Is.EquivalentTo(new[] { "writes" }), "the previous settings stay in force");
        Assert.That(gateway.Errors, Does.Contain("Ignored a configuration reload").And.Contain("ReverseProxy:Routes:w:Metadata:RateLimitPolicy").And.Contain("'writes'"));
        var statuses = new List<HttpStatusCode>();
        for (var i = 0; i < 8; i++)
        {
            statuses.Add(await gateway.StatusAsync(key, "/w/x"));
        }

        Assert.That(statuses.Count(s => s == HttpStatusCode.OK), Is.EqualTo(5), "the route keeps its policy, not the workspace limit");

        // The route and its policy taken away together: accepted, whichever of the two reloads runs first.
        await File.WriteAllTextAsync(file, """{ "Gateway": { "RateLimits": { "Workspace": { "PermitLimit": 777 } } } }""");
        configuration.Reload();

        Assert.That(monitor.CurrentValue.RateLimits.Policies, Is.Empty);
        Assert.That(monitor.CurrentValue.RateLimits.Workspace.PermitLimit, Is.EqualTo(777));
        await GatewayHost.WaitForAsync(async () => await gateway.StatusAsync(key, "/w/x") == HttpStatusCode.NotFound, TimeSpan.FromSeconds(10));

        // And back, then away together once more (the two reloads of one change run in either order).
        await File.WriteAllTextAsync(file, Writes[..^1] + Route + " }");
        configuration.Reload();
        await Eventually.HoldsAsync(async () => await PolicyLimitAsync(gateway, key) == "5", TimeSpan.FromSeconds(10), () => gateway.Errors);
        Assert.That(monitor.CurrentValue.RateLimits.Policies.Keys, Is.EquivalentTo(new[] { "writes" }));
        await File.WriteAllTextAsync(file, "{ }");
        configuration.Reload();
        Assert.That(monitor.CurrentValue.RateLimits.Policies, Is.Empty);
        await GatewayHost.WaitForAsync(async () => await gateway.StatusAsync(key, "/w/x") == HttpStatusCode.NotFound, TimeSpan.FromSeconds(10));
    }

    [Test]
    public void Start_RouteNamesNoCluster_FailsNamingRouteAndCluster()
    {
        // Accepted before: every request on the route got YARP's empty 503, ahead of authentication and the request log.
        var settings = GatewayHost.Routes(Upstream.Url, ("api", "/api/{**rest}", []));
        settings["ReverseProxy:Routes:a:ClusterId"] = "nosuch";
        settings["ReverseProxy:Routes:a:Match:Path"] = "/a/{**rest}";

        var ex = Assert.CatchAsync(async () => await GatewayHost.StartAsync(settings));

        Assert.That(string.Join(Environment.NewLine, StartupFailure.Describe(ex!)), Does.Contain("ReverseProxy:Routes:a:ClusterId").And.Contain("'nosuch'"));
    }

    [Test]
    public async Task Reload_RouteMovedToAClusterThatIsNotThere_RefusedAndPreviousRoutesKept()
    {
        await using var gateway = await GatewayHost.StartAsync(GatewayHost.Routes(Upstream.Url, ("api", "/api/{**rest}", [])));
        var key = (await gateway.CreateOrgAsync("acme")).DefaultKey();
        var configuration = (IConfigurationRoot)gateway.Services.GetRequiredService<IConfiguration>();

        // As when a cluster is removed while a route still uses it: the reload is refused as a whole.
        configuration["ReverseProxy:Routes:api:ClusterId"] = "gone";
        configuration["ReverseProxy:Routes:other:ClusterId"] = "upstream";
        configuration["ReverseProxy:Routes:other:Match:Path"] = "/other/{**rest}";
        configuration.Reload();

        await Eventually.HoldsAsync(() => Task.FromResult(gateway.Errors.Contains("ReverseProxy:Routes:api:ClusterId", StringComparison.Ordinal)), TimeSpan.FromSeconds(10), () => gateway.Errors);
        Assert.That(gateway.Errors, Does.Contain("'gone'"));
        Assert.That(await gateway.StatusAsync(key, "/api/x"), Is.EqualTo(HttpStatusCode.OK), "the route keeps its cluster");
        Assert.That(await gateway.StatusAsync(key, "/other/x"), Is.EqualTo(HttpStatusCode.NotFound), "nothing of the refused reload applies");
    }

    [Test]
    public async Task ClusterWithoutDestinations_ProblemWithLimitHeaders_AfterAuthentication()
    {
        var settings = GatewayHost.Routes(Upstream.Url, ("api", "/api/{**rest}", []));
        settings["ReverseProxy:Routes:empty:ClusterId"] = "empty";
        settings["ReverseProxy:Routes:empty:Match:Path"] = "/empty/{**rest}";
        settings["ReverseProxy:Clusters:empty:LoadBalancingPolicy"] = "RoundRobin";
        await using var gateway = await GatewayHost.StartAsync(settings);
        var key = (await gateway.CreateOrgAsync("acme")).DefaultKey();

        Assert.That(await gateway.CodeAsync(null, "/empty/x"), Is.EqualTo("missing_key"), "authentication comes first");
        using var response = await gateway.CallAsync("/empty/x", key);

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.ServiceUnavailable));
        Assert.That((await GatewayHost.ProblemAsync(response)).Str("code"), Is.EqualTo("no_healthy_upstream"));
        Assert.That(response.Headers.Contains("X-RateLimit-Limit"), Is.True, "the limits' headers, as on every answer after the limits");
    }

    [Test]
    public async Task Reload_RemovesAScopeARouteStillRequires_RefusedAndTheScopeStaysInForce()
    {
        var file = await ScopeFileAsync();
        await using var gateway = await StartReadingAsync(file);
        await gateway.CreateOrgAsync("acme");
        var reader = (await gateway.CreateKeyAsync("acme", new { name = "r", scopes = new[] { "read" } })).Str("key");
        var configuration = (IConfigurationRoot)gateway.Services.GetRequiredService<IConfiguration>();
        var monitor = gateway.Services.GetRequiredService<IOptionsMonitor<GatewayOptions>>();

        // The scope taken away while route a still requires it: refused, as a start with that file is, so keys can
        // still be given the scope the route asks for.
        await File.WriteAllTextAsync(file, WithoutRead + Route + " }");
        configuration.ReloadFile(file);

        Assert.That(monitor.CurrentValue.Scopes, Does.Contain("read").And.Not.Contain("billing"), "the previous settings stay in force");
        Assert.That(gateway.Errors, Does.Contain("Ignored a configuration reload").And.Contain("ReverseProxy:Routes:a:Metadata:RequiredScopes").And.Contain("'read'"));
        Assert.That((await gateway.CreateKeyAsync("acme", new { name = "r2", scopes = new[] { "read" } })).Str("key"), Does.StartWith("gw_"));
        Assert.That(await gateway.StatusAsync(reader, "/a/x"), Is.EqualTo(HttpStatusCode.OK));
    }

    [Test]
    public async Task Reload_ScopeAndARouteRequiringItChangedTogether_AcceptedInEitherOrder()
    {
        var file = await ScopeFileAsync();
        await using var gateway = await StartReadingAsync(file);
        await gateway.CreateOrgAsync("acme");
        var reader = (await gateway.CreateKeyAsync("acme", new { name = "r", scopes = new[] { "read" } })).Str("key");
        var configuration = (IConfigurationRoot)gateway.Services.GetRequiredService<IConfiguration>();
        var monitor = gateway.Services.GetRequiredService<IOptionsMonitor<GatewayOptions>>();

        // The route and its scope taken away together, and brought back together: accepted, whichever of the two
        // sections reloads first. They take turns (each change runs the listeners in the reverse order of the one
        // before), so each round begins on the other foot: the unchanged reload at the end of a round shifts it by one.
        for (var round = 0; round < 2; round++)
        {
            await File.WriteAllTextAsync(file, WithoutRead + " }");
            configuration.ReloadFile(file);
            Assert.That(monitor.CurrentValue.Scopes, Does.Contain("billing").And.Not.Contain("read"), () => $"round {round}: {gateway.Errors}");
            await Eventually.HoldsAsync(async () => await gateway.StatusAsync(reader, "/a/x") == HttpStatusCode.NotFound, TimeSpan.FromSeconds(10), () => $"round {round}: {gateway.Errors}");

            await File.WriteAllTextAsync(file, WithRead + Route + " }");
            configuration.ReloadFile(file);
            Assert.That(monitor.CurrentValue.Scopes, Does.Contain("read").And.Not.Contain("billing"), () => $"round {round}: {gateway.Errors}");
            await Eventually.HoldsAsync(async () => await gateway.StatusAsync(reader, "/a/x") == HttpStatusCode.OK, TimeSpan.FromSeconds(10), () => $"round {round}: {gateway.Errors}");

            configuration.ReloadFile(file);
        }

        Assert.That(gateway.Errors, Does.Not.Contain("Ignored a configuration reload"));
    }

    /// <summary>A file with the scopes read, write, admin and route a (a file, so that a reload can take a route away).</summary>
    private static async Task<string> ScopeFileAsync()
    {
        var directory = Path.Combine(Path.GetTempPath(), "gw-tests", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(directory);
        var file = Path.Combine(directory, "scopes.json");
        await File.WriteAllTextAsync(file, WithRead + Route + " }");
        return file;
    }

    private Task<GatewayHost> StartReadingAsync(string file) => GatewayHost.StartAsync(
        GatewayHost.Routes(Upstream.Url, ("api", "/api/{**rest}", [])),
        configure: config => config.AddJsonFile(file, optional: false, reloadOnChange: false));

    /// <summary>The limit route w answers under (its policy's while it has one), or null when there is no route w.</summary>
    private static async Task<string?> PolicyLimitAsync(GatewayHost gateway, string key)
    {
        using var response = await gateway.CallAsync("/w/x", key);
        return response.Headers.TryGetValues("X-RateLimit-Limit", out var limit) ? limit.Single() : null;
    }
}
