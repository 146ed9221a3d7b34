using System.Net;
using Gateway.Configuration;
using Gateway.Tests.Common;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace Gateway.Tests.Configuration;

public sealed class HotReloadTests
{
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
}
