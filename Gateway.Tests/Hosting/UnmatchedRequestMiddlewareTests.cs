using System.Diagnostics.Metrics;
using System.Net;
using System.Text.Json.Nodes;
using Gateway.Configuration;
using Gateway.Hosting;
using Gateway.Http;
using Gateway.Observability;
using Gateway.RateLimiting;
using Gateway.Tests.Common;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;

namespace Gateway.Tests.Hosting;

/// <summary>
/// The unmatched-request stage alone, on a <see cref="DefaultHttpContext"/> (no server, no routing): a
/// matched endpoint passes through; no endpoint (or routing's 405 endpoint) on the proxy listener is a 404
/// <c>no_route</c> that spends a permit of the client's IP limit, and past that limit a 429 <c>rate_limited</c>.
/// (The X-RateLimit-* headers are written as the response starts, which a DefaultHttpContext never does:
/// IpLimitGateTests checks them over a real socket.)
/// </summary>
public sealed class UnmatchedRequestMiddlewareTests
{
    private const int Limit = 2;

    [Test]
    public async Task MatchedEndpoint_CallsNext()
    {
        var context = Context();
        context.SetEndpoint(new Endpoint(_ => Task.CompletedTask, EndpointMetadataCollection.Empty, "route"));
        var called = false;

        await Middleware(_ => { called = true; return Task.CompletedTask; }).InvokeAsync(context);

        Assert.That(called, Is.True);
        Assert.That(context.Response.StatusCode, Is.EqualTo(StatusCodes.Status200OK));
    }

    [Test]
    public async Task NoEndpoint_ProxyListener_404NoRoute()
    {
        var context = Context();
        var called = false;

        await Middleware(_ => { called = true; return Task.CompletedTask; }).InvokeAsync(context);

        Assert.That(called, Is.False);
        Assert.That(context.Response.StatusCode, Is.EqualTo(StatusCodes.Status404NotFound));
        Assert.That(context.Response.ContentType, Is.EqualTo("application/problem+json"));
        Assert.That(Body(context).Str("code"), Is.EqualTo("no_route"));
    }

    [Test]
    public async Task MethodNotAllowedEndpoint_AnsweredAsNoRoute()
    {
        var context = Context();
        context.SetEndpoint(new Endpoint(_ => Task.CompletedTask, EndpointMetadataCollection.Empty, "405 HTTP Method Not Supported"));
        var called = false;

        await Middleware(_ => { called = true; return Task.CompletedTask; }).InvokeAsync(context);

        Assert.That(called, Is.False);
        Assert.That(context.Response.StatusCode, Is.EqualTo(StatusCodes.Status404NotFound));
        Assert.That(Body(context).Str("code"), Is.EqualTo("no_route"));
    }

    [Test]
    public async Task NoEndpoint_OverTheIpLimit_429RateLimited()
    {
        var middleware = Middleware(_ => Task.CompletedTask);
        for (var i = 0; i < Limit; i++)
        {
            var probe = Context();
            await middleware.InvokeAsync(probe);
            Assert.That(probe.Response.StatusCode, Is.EqualTo(StatusCodes.Status404NotFound), $"probe {i}");
        }

        var refused = Context();
        await middleware.InvokeAsync(refused);

        Assert.That(refused.Response.StatusCode, Is.EqualTo(StatusCodes.Status429TooManyRequests));
        Assert.That(Body(refused).Str("code"), Is.EqualTo("rate_limited"));
        Assert.That(refused.Response.Headers.RetryAfter.ToString(), Is.Not.Empty);
    }

    private static DefaultHttpContext Context()
    {
        var context = new DefaultHttpContext();
        context.Response.Body = new MemoryStream();
        context.Connection.RemoteIpAddress = IPAddress.Parse("203.0.113.7");
        context.Request.Path = "/nowhere";
        return context;
    }

    private static UnmatchedRequestMiddleware Middleware(RequestDelegate next)
    {
        var options = new StaticOptionsMonitor<GatewayOptions>(new GatewayOptions
        {
            RateLimits = new RateLimitsOptions { Ip = new IpLimitOptions { PermitLimit = Limit, Window = TimeSpan.FromMinutes(1) } },
        });
        var metrics = new GatewayMetrics(new ServiceCollection().AddMetrics().BuildServiceProvider().GetRequiredService<IMeterFactory>());
        var ips = new ClientIpResolver(() => options.CurrentValue.TrustedProxies, () => options.CurrentValue.RateLimits.Ipv6PrefixLength);
        var gate = new IpLimitGate(new LocalRateLimitCounter(TimeProvider.System), new RateLimitPolicyResolver(options), ips, options, metrics);
        return new UnmatchedRequestMiddleware(next, new Listeners(), gate, metrics);
    }

    private static JsonNode Body(HttpContext context)
    {
        context.Response.Body.Position = 0;
        return JsonNode.Parse(context.Response.Body)!;
    }
}
