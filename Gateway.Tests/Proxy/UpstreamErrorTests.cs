using System.Net;
using Gateway.Tests.Common;
using WireMock.RequestBuilders;
using WireMock.ResponseBuilders;

namespace Gateway.Tests.Proxy;

public sealed class UpstreamErrorTests
{
    [Test]
    public async Task Invoke_UpstreamPortClosed_Returns502UpstreamUnreachable()
    {
        using var closed = new ClosedPort();
        await using var gateway = await GatewayHost.StartAsync(GatewayHost.Routes(closed.Url, ("api", "/api/{**rest}", [])));
        await gateway.CreateOrgAsync("acme");
        var key = (await gateway.CreateKeyAsync("acme", new { name = "k" })).Str("key");

        using var response = await gateway.CallAsync("/api/x", key, r => r.Headers.Add("X-Request-Id", "req-502"));

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.BadGateway));
        var problem = await GatewayHost.ProblemAsync(response);
        Assert.That(problem.Str("code"), Is.EqualTo("upstream_unreachable"));
        Assert.That(problem.Str("requestId"), Is.EqualTo("req-502"));
        Assert.That(response.Headers.GetValues("X-Request-Id").Single(), Is.EqualTo("req-502"));
    }

    [Test]
    public async Task Invoke_UpstreamTooSlow_Returns504UpstreamTimeout()
    {
        using var upstream = Upstream.Start();
        upstream.Server.Given(Request.Create().WithPath("/api/slow")).RespondWith(Response.Create().WithStatusCode(200).WithDelay(TimeSpan.FromSeconds(3)));
        var settings = GatewayHost.Routes(upstream.Url, ("api", "/api/{**rest}", []));
        settings["ReverseProxy:Clusters:upstream:HttpRequest:ActivityTimeout"] = "00:00:00.500";
        await using var gateway = await GatewayHost.StartAsync(settings);
        await gateway.CreateOrgAsync("acme");
        var key = (await gateway.CreateKeyAsync("acme", new { name = "k" })).Str("key");

        using var response = await gateway.CallAsync("/api/slow", key);

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.GatewayTimeout));
        var problem = await GatewayHost.ProblemAsync(response);
        Assert.That(problem.Str("code"), Is.EqualTo("upstream_timeout"));
        Assert.That(response.Headers.Contains("X-Request-Id"), Is.True);
    }
}
