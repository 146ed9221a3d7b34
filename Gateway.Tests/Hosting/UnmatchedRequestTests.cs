using System.Net;
using Gateway.Tests.Common;

namespace Gateway.Tests.Hosting;

/// <summary>
/// A request that no endpoint takes gets a problem+json 404 on either listener, also when its path
/// matches and only its method does not (routing would otherwise answer an empty 405).
/// </summary>
public sealed class UnmatchedRequestTests
{
    [Test]
    public async Task Proxy_PathOfAGetOnlyRoute_OtherMethodIsNoRouteAndNeverReachesUpstream()
    {
        using var upstream = Upstream.Start();
        var settings = GatewayHost.Routes(upstream.Url, ("reads", "/reads/{**rest}", [("Anonymous", "true")]));
        settings["ReverseProxy:Routes:reads:Match:Methods:0"] = "GET";
        await using var gateway = await GatewayHost.StartAsync(settings);

        using var get = await gateway.Proxy.GetAsync("/reads/x");
        Assert.That(get.StatusCode, Is.EqualTo(HttpStatusCode.OK), "the route itself answers GET");

        using var post = await gateway.Proxy.PostAsync("/reads/x", new StringContent("{}"));
        Assert.That(post.StatusCode, Is.EqualTo(HttpStatusCode.NotFound));
        Assert.That(post.Content.Headers.ContentType?.MediaType, Is.EqualTo("application/problem+json"));
        Assert.That((await GatewayHost.ProblemAsync(post)).Str("code"), Is.EqualTo("no_route"));
        Assert.That(post.Headers.Contains("X-Request-Id"), Is.True);
        Assert.That(upstream.Received, Has.Count.EqualTo(1), "only the GET was forwarded");
    }

    // The IP limit comes first for every request on the proxy listener: a client sending bad paths, tunnels or unknown
    // paths spends its allowance like any other, and is refused once it is spent.
    [Test]
    public async Task Proxy_BadPathConnectAndNoRoute_SpendTheClientIpAllowance()
    {
        using var upstream = Upstream.Start();
        var settings = GatewayHost.Routes(upstream.Url, ("reads", "/reads/{**rest}", [("Anonymous", "true")]));
        settings["Gateway:RateLimits:Ip:PermitLimit"] = "3";
        settings["Gateway:RateLimits:Ip:Window"] = "01:00:00";
        await using var gateway = await GatewayHost.StartAsync(settings);

        var badPath = await Gateway.Tests.Proxy.RawHttp.GetAsync(gateway.ProxyUrl, "/reads//x");
        Assert.That((badPath.Status, badPath.Headers.GetValueOrDefault("X-RateLimit-Remaining")), Is.EqualTo((400, "2")), badPath.Body);
        var connect = await Gateway.Tests.Proxy.RawHttp.SendAsync(gateway.ProxyUrl, "CONNECT /reads/x HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
        Assert.That((connect.Status, connect.Headers.GetValueOrDefault("X-RateLimit-Remaining")), Is.EqualTo((400, "1")), connect.Body);
        using (var unknown = await gateway.Proxy.GetAsync("/nowhere"))
        {
            Assert.That(unknown.StatusCode, Is.EqualTo(HttpStatusCode.NotFound));
        }

        var refused = await Gateway.Tests.Proxy.RawHttp.GetAsync(gateway.ProxyUrl, "/reads/..;/x");
        Assert.That(refused.Status, Is.EqualTo(429), refused.Body);
        Assert.That(refused.Body, Does.Contain("rate_limited"));
        Assert.That(refused.Headers.ContainsKey("Retry-After"), Is.True);
        Assert.That(upstream.Received, Is.Empty);
    }

    [Test]
    public async Task Admin_UnknownPathAndWrongMethod_AreNotFoundProblems()
    {
        await using var gateway = await GatewayHost.StartAsync();

        using var unknown = await gateway.Admin.GetAsync("/admin/nothing-here");
        Assert.That(unknown.StatusCode, Is.EqualTo(HttpStatusCode.NotFound));
        Assert.That((await GatewayHost.ProblemAsync(unknown)).Str("code"), Is.EqualTo("not_found"));

        using var wrongMethod = await gateway.Admin.DeleteAsync("/healthz");
        Assert.That(wrongMethod.StatusCode, Is.EqualTo(HttpStatusCode.NotFound));
        Assert.That(wrongMethod.Content.Headers.ContentType?.MediaType, Is.EqualTo("application/problem+json"));
        Assert.That((await GatewayHost.ProblemAsync(wrongMethod)).Str("code"), Is.EqualTo("not_found"));

        using var health = await gateway.Admin.GetAsync("/healthz");
        Assert.That(health.StatusCode, Is.EqualTo(HttpStatusCode.OK));
    }
}
