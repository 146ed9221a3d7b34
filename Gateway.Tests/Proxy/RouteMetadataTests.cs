using System.Net;
using Gateway.Hosting;
using Gateway.Tests.Common;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;

namespace Gateway.Tests.Proxy;

/// <summary>A route metadata key the gateway does not know (a misspelt <c>RequiredScope</c>) never leaves a route open.</summary>
public sealed class RouteMetadataTests : UpstreamFixture
{
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
}
