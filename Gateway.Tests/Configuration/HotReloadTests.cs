using System.Net;
using Gateway.Configuration;
using Gateway.Observability;
using Gateway.Tests.Common;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Gateway.Tests.Configuration;

public sealed class HotReloadTests
{
    /// <summary>YARP's ProxyConfigManager: "Failed to apply the new config.", with the reason in the exception.</summary>
    private const int YarpFailedToApplyConfig = 44;

    [Test]
    public async Task Reload_InvalidGatewaySettings_KeepsLastGoodAndKeepsServing()
    {
        using var upstream = Upstream.Start();
        await using var gateway = await GatewayHost.StartAsync(GatewayHost.Routes(upstream.Url, ("api", "/api/{**rest}", [])));
        await gateway.CreateOrgAsync("acme");
        var key = (await gateway.CreateKeyAsync("acme", new { name = "k" })).Str("key");
        var configuration = (IConfigurationRoot)gateway.Services.GetRequiredService<IConfiguration>();
        var monitor = gateway.Services.GetRequiredService<IOptionsMonitor<GatewayOptions>>();

        configuration["Gateway:Environment"] = "prod"; // invalid
        configuration.Reload();

        Assert.That(monitor.CurrentValue.Environment, Is.EqualTo("production"));
        using (var response = await gateway.CallAsync("/api/x", key))
        {
            Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        }

        configuration["Gateway:Environment"] = "staging"; // valid: applies without restart
        configuration.Reload();

        Assert.That(monitor.CurrentValue.Environment, Is.EqualTo("staging"));
        using (var response = await gateway.CallAsync("/api/x", key))
        {
            Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.Unauthorized));
            Assert.That((await GatewayHost.ProblemAsync(response)).Str("code"), Is.EqualTo("wrong_environment"));
        }
    }

    [Test]
    public async Task Reload_OneEditWithABadValueInOneSection_TheOtherSectionsChangeStillApplies()
    {
        // The Gateway section and the ReverseProxy section of one file are checked and applied separately (docs/configuration.md).
        using var upstream = Upstream.Start();
        var directory = Path.Combine(Path.GetTempPath(), "gw-tests", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(directory);
        var file = Path.Combine(directory, "settings.json");
        var cluster = $$"""
            "Clusters": { "upstream": { "Destinations": { "d1": { "Address": "{{upstream.Url}}" } } } }
            """;
        await File.WriteAllTextAsync(file, $$"""{ "ReverseProxy": { "Routes": { "api": { "ClusterId": "upstream", "Match": { "Path": "/api/{**rest}" } } }, {{cluster}} } }""");
        var log = new CapturingLoggerProvider(LogLevel.Error);
        await using var gateway = await GatewayHost.StartAsync(
            services: log.AddTo,
            configure: config => config.AddJsonFile(file, optional: false, reloadOnChange: false));
        var configuration = (IConfigurationRoot)gateway.Services.GetRequiredService<IConfiguration>();
        var monitor = gateway.Services.GetRequiredService<IOptionsMonitor<GatewayOptions>>();

        // A bad Gateway value and a new anonymous route: the settings are refused (1010), the route is served.
        await File.WriteAllTextAsync(file, $$"""
            { "Gateway": { "Environment": "prod" },
              "ReverseProxy": { "Routes": { "api": { "ClusterId": "upstream", "Match": { "Path": "/api/{**rest}" } },
                                            "open": { "ClusterId": "upstream", "Match": { "Path": "/open/{**rest}" }, "Metadata": { "Anonymous": "true" } } },
                                {{cluster}} } }
            """);
        configuration.ReloadFile(file);

        Assert.That(monitor.CurrentValue.Environment, Is.EqualTo("production"));
        Assert.That(log.Entries.Where(e => e.EventId == EventIds.OptionsReloadRejected).Select(e => e.Message), Has.Some.Contain("Gateway:Environment"));
        await Eventually.HoldsAsync(async () => await gateway.StatusAsync(null, "/open/x") == HttpStatusCode.OK, TimeSpan.FromSeconds(10), () => gateway.Errors);

        // A good Gateway value and a route with a misspelt metadata key: the route change is refused (by YARP's
        // configuration manager, its own event, with the gateway's message inside), the limit applies.
        await File.WriteAllTextAsync(file, $$"""
            { "Gateway": { "RateLimits": { "Workspace": { "PermitLimit": 7 } } },
              "ReverseProxy": { "Routes": { "api": { "ClusterId": "upstream", "Match": { "Path": "/api/{**rest}" } },
                                            "b": { "ClusterId": "upstream", "Match": { "Path": "/b/{**rest}" }, "Metadata": { "RequiredScope": "admin" } } },
                                {{cluster}} } }
            """);
        configuration.ReloadFile(file);

        Assert.That(monitor.CurrentValue.RateLimits.Workspace.PermitLimit, Is.EqualTo(7));
        Assert.That(
            log.Entries.Where(e => e.EventId == YarpFailedToApplyConfig && e.Category.StartsWith("Yarp.", StringComparison.Ordinal)).Select(e => e.Text),
            Has.Some.Contain("ReverseProxy:Routes:b:Metadata:RequiredScope is not a route setting"));
        Assert.That(log.Entries.Count(e => e.EventId == EventIds.OptionsReloadRejected), Is.EqualTo(1), "only the first edit's Gateway section was refused");

        // The refused route change is refused as a whole: route b is not added, and route open, which the edit dropped, stays.
        Assert.That(await gateway.StatusAsync(null, "/b/x"), Is.EqualTo(HttpStatusCode.NotFound));
        Assert.That(await gateway.StatusAsync(null, "/open/x"), Is.EqualTo(HttpStatusCode.OK));
    }
}
