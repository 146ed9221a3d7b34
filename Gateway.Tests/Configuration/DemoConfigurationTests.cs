using System.Net;
using System.Net.Http.Json;
using System.Net.Sockets;
using Gateway.Tests.Common;
using Gateway.Configuration;
using Gateway.Demo;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace Gateway.Tests.Configuration;

/// <summary>
/// The demo's routes, cluster and scopes exist only while Gateway:Demo:Enabled is true: the shipped
/// appsettings.json with the demo turned off has no /demo/ routes and needs none of the demo's scopes.
/// </summary>
public sealed class DemoConfigurationTests
{
    // Scopes of an operator who uses none of the demo's.
    private static readonly Dictionary<string, string?> OwnScopes = new()
    {
        ["Gateway:Scopes:0"] = "orders",
        ["Gateway:Scopes:1"] = "billing",
        ["Gateway:Scopes:2"] = "reports",
    };

    [Test]
    public async Task ShippedFile_DemoOff_DemoPathsGet404NoRouteAndDemoScopesNotRequired()
    {
        using var upstream = Upstream.Start();
        var overrides = new Dictionary<string, string?>(OwnScopes)
        {
            ["Kestrel:Endpoints:Proxy:Url"] = "http://127.0.0.1:0",
            ["Kestrel:Endpoints:Admin:Url"] = "http://127.0.0.1:0",
            ["Gateway:Demo:Enabled"] = "false",
            ["Gateway:Admin:Token"] = GatewayHost.AdminToken,
        };
        foreach (var (name, value) in GatewayHost.Routes(upstream.Url, ("api", "/api/{**rest}", [("RequiredScopes", "orders")])))
        {
            overrides[name] = value;
        }

        var directory = Path.Combine(Path.GetTempPath(), "gw-tests", Guid.NewGuid().ToString("N"));
        overrides["Gateway:Store:Path"] = Path.Combine(directory, "gateway.db");
        await using var gateway = await GatewayHost.StartAsync(directory: directory, configure: config =>
        {
            config.AddJsonFile(Path.Combine(AppContext.BaseDirectory, "appsettings.json"), optional: false);
            config.AddInMemoryCollection(overrides);
        });

        await gateway.CreateOrgAsync("acme");
        var key = (await gateway.CreateKeyAsync("acme", new { name = "svc", scopes = new[] { "orders" } })).Str("key");
        Assert.That(await gateway.StatusAsync(key, "/api/x"), Is.EqualTo(HttpStatusCode.OK));
        foreach (var path in new[] { "/demo/x", "/demo/public/x", "/demo/admin/x" })
        {
            using var response = await gateway.CallAsync(path, key);
            Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.NotFound), path);
            Assert.That((await GatewayHost.ProblemAsync(response)).Str("code"), Is.EqualTo("no_route"), path);
        }

        using var readScope = await gateway.Admin.PostAsJsonAsync("admin/orgs/acme/keys", new { name = "reader", scopes = new[] { "read" } });
        Assert.That(readScope.StatusCode, Is.EqualTo(HttpStatusCode.BadRequest), "the demo's scopes do not exist with the demo off");
    }

    /// <summary>The scopes commands such as <c>keys import</c> check against are those of a gateway on the same settings.</summary>
    [TestCase(true)]
    [TestCase(false)]
    public void KnownScopes_AreTheGatewaysOptionsScopes(bool demo)
    {
        var configuration = new ConfigurationBuilder()
            .AddInMemoryCollection(new Dictionary<string, string?>(OwnScopes) { ["Gateway:Scopes:3"] = "read", ["Gateway:Demo:Enabled"] = demo ? "true" : "false" })
            .Build();
        var services = new ServiceCollection();
        services.AddGatewayOptions(configuration);
        services.AddGatewayDemo(configuration);
        using var provider = services.BuildServiceProvider();

        var scopes = provider.GetRequiredService<IOptions<GatewayOptions>>().Value.Scopes;

        Assert.That(DemoServiceCollectionExtensions.KnownScopes(configuration), Is.EquivalentTo(scopes));
        Assert.That(scopes.Contains("write"), Is.EqualTo(demo));
    }

    [Test]
    public async Task DemoOn_RoutesClusterAndScopesAddedInCode()
    {
        var settings = new Dictionary<string, string?>(OwnScopes)
        {
            ["Gateway:Demo:Enabled"] = "true",
            ["Gateway:Demo:Url"] = $"http://127.0.0.1:{FreePort()}",
        };
        await using var gateway = await GatewayHost.StartAsync(settings);

        await gateway.CreateOrgAsync("acme");
        var key = (await gateway.CreateKeyAsync("acme", new { name = "reader", environment = "development", scopes = new[] { "read" } })).Str("key");

        using var hello = await gateway.CallAsync("/demo/hello", key);
        Assert.That(hello.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        var body = await hello.Content.ReadAsStringAsync();
        Assert.That(body, Does.Contain("\"upstream\": \"gateway-demo\""));
        Assert.That(body, Does.Contain("\"X-Org-Id\": \"acme\""));
        Assert.That(await gateway.CodeAsync(key, "/demo/admin/x"), Is.EqualTo("insufficient_scope"));
        Assert.That(await gateway.StatusAsync(null, "/demo/public/x"), Is.EqualTo(HttpStatusCode.OK));
        Assert.That(await gateway.CodeAsync(key, "/demo/staging/x"), Is.EqualTo("wrong_environment"));
    }

    [Test]
    public async Task DemoOn_DemoKeyIsADevelopmentKeySavedToAFile_OpensDemoRoutesOnly()
    {
        using var upstream = Upstream.Start();
        var settings = GatewayHost.Routes(upstream.Url, ("api", "/api/{**rest}", []), ("dev", "/dev/{**rest}", [("Environment", "development")]));
        settings["Gateway:Demo:Enabled"] = "true";
        settings["Gateway:Demo:Url"] = $"http://127.0.0.1:{FreePort()}";
        await using var gateway = await GatewayHost.StartAsync(settings);

        var file = Path.Combine(gateway.Directory, "demo-key");
        await GatewayHost.WaitForAsync(() => Task.FromResult(File.Exists(file)), TimeSpan.FromSeconds(10));
        var demoKey = (await File.ReadAllTextAsync(file)).Trim();
        Assert.That(demoKey, Does.StartWith("gw_dev_"));
        Assert.That(OperatingSystem.IsWindows() ? default : File.GetUnixFileMode(file), Is.EqualTo(UnixFileMode.UserRead | UnixFileMode.UserWrite));
        var stored = (await gateway.AdminGetAsync("admin/orgs/demo/keys"))["items"] is { } items ? items.AsArray()[0]!.AsObject() : null;
        Assert.That(stored?.Str("environment"), Is.EqualTo("development"));
        Assert.That(stored?["scopes"]!.AsArray().Select(s => s!.GetValue<string>()), Is.EquivalentTo(new[] { "read", "write", "admin" }));

        Assert.That(await gateway.StatusAsync(demoKey, "/demo/hello"), Is.EqualTo(HttpStatusCode.OK));
        Assert.That(await gateway.StatusAsync(demoKey, "/demo/admin/x"), Is.EqualTo(HttpStatusCode.OK));

        // Neither the demo key nor any other key of the demo organization opens a route of the operator's,
        // whatever its environment and scopes.
        var wide = (await gateway.CreateKeyAsync("demo", new { name = "wide", environment = "production", scopes = new[] { "*" } })).Str("key");
        foreach (var (key, path) in new[] { (demoKey, "/dev/x"), (wide, "/api/x") })
        {
            using var response = await gateway.CallAsync(path, key);
            Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.Unauthorized), path);
            Assert.That((await GatewayHost.ProblemAsync(response)).Str("code"), Is.EqualTo("invalid_key"), path);
        }

        // Another organization's development key still opens the operator's development route.
        await gateway.CreateOrgAsync("acme");
        var acme = (await gateway.CreateKeyAsync("acme", new { name = "dev", environment = "development" })).Str("key");
        Assert.That(await gateway.StatusAsync(acme, "/dev/x"), Is.EqualTo(HttpStatusCode.OK));
    }

    [Test]
    public async Task DemoOff_KeysOfTheDemoOrganizationOpenNoRoute()
    {
        using var upstream = Upstream.Start();
        var settings = GatewayHost.Routes(upstream.Url, ("api", "/api/{**rest}", []), ("public", "/public/{**rest}", [("Anonymous", "true")]));
        await using var gateway = await GatewayHost.StartAsync(settings);

        // A demo organization left in the store from when the demo was on (or created by hand).
        var demoKey = (await gateway.CreateOrgAsync("demo"))["defaultKey"]!.AsObject().Str("key");
        await gateway.CreateOrgAsync("acme");
        var acme = (await gateway.CreateKeyAsync("acme", new { name = "svc" })).Str("key");

        using var refused = await gateway.CallAsync("/api/x", demoKey);
        Assert.That(refused.StatusCode, Is.EqualTo(HttpStatusCode.Unauthorized));
        Assert.That((await GatewayHost.ProblemAsync(refused)).Str("code"), Is.EqualTo("invalid_key"));
        Assert.That(upstream.Received, Is.Empty, "nothing reached the upstream");
        Assert.That(await gateway.StatusAsync(acme, "/api/x"), Is.EqualTo(HttpStatusCode.OK));
        Assert.That(await gateway.StatusAsync(null, "/public/x"), Is.EqualTo(HttpStatusCode.OK), "anonymous routes need no key");
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
