using System.Diagnostics.Metrics;
using System.Text.Json.Nodes;
using Gateway.Configuration;
using Gateway.Hosting;
using Gateway.Http;
using Gateway.Observability;
using Gateway.RateLimiting;
using Gateway.Tests.Common;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.DependencyInjection;

namespace Gateway.Tests.Hosting;

/// <summary>
/// The request-target stage alone, on a <see cref="DefaultHttpContext"/> (no server, no routing): a clean
/// target passes untouched, a dirty one is refused with 400 <c>bad_path</c> before the next stage, or,
/// with <c>Gateway:Paths:Normalize</c>, rewritten in both the path and the raw target the proxy forwards.
/// </summary>
public sealed class RequestTargetMiddlewareTests
{
    [TestCase("/api/x")]
    [TestCase("/api/x?a=../b")]
    [TestCase("/")]
    public async Task CleanTarget_CallsNextWithTargetUntouched(string target)
    {
        var (context, request) = Context(target);
        var called = false;

        await Middleware(_ => { called = true; return Task.CompletedTask; }, normalize: false).InvokeAsync(context);

        Assert.That(called, Is.True);
        Assert.That(request.RawTarget, Is.EqualTo(target));
        Assert.That(context.Response.StatusCode, Is.EqualTo(StatusCodes.Status200OK));
    }

    [TestCase("/api/../admin")]
    [TestCase("/api/./x")]
    [TestCase("/api//x")]
    [TestCase("/api/x;jsessionid=1")]
    [TestCase("/api/a%2Fb")]
    [TestCase("/api/a%5cb")]
    public async Task DirtyTarget_Strict_400BadPathAndNextNotCalled(string target)
    {
        var (context, _) = Context(target);
        var called = false;

        await Middleware(_ => { called = true; return Task.CompletedTask; }, normalize: false).InvokeAsync(context);

        Assert.That(called, Is.False, "the next stage never sees the target");
        Assert.That(context.Response.StatusCode, Is.EqualTo(StatusCodes.Status400BadRequest));
        Assert.That(context.Response.ContentType, Is.EqualTo("application/problem+json"));
        Assert.That(Body(context).Str("code"), Is.EqualTo("bad_path"));
    }

    [Test]
    public async Task DirtyTarget_Normalize_RewritesPathAndRawTargetKeepingQuery()
    {
        var (context, request) = Context("/api/a/../b?q=1");
        context.Request.QueryString = new QueryString("?q=1");
        string? seenPath = null;
        string? seenRaw = null;

        await Middleware(
            c =>
            {
                seenPath = c.Request.Path.Value;
                seenRaw = c.Features.Get<IHttpRequestFeature>()!.RawTarget;
                return Task.CompletedTask;
            },
            normalize: true).InvokeAsync(context);

        Assert.That(seenPath, Is.EqualTo("/api/b"));
        Assert.That(seenRaw, Is.EqualTo("/api/b?q=1"));
        Assert.That(request.RawTarget, Is.EqualTo("/api/b?q=1"));
    }

    private static (DefaultHttpContext Context, IHttpRequestFeature Request) Context(string target)
    {
        var context = new DefaultHttpContext();
        context.Response.Body = new MemoryStream();
        var request = context.Features.Get<IHttpRequestFeature>()!;
        request.RawTarget = target;
        var query = target.IndexOf('?', StringComparison.Ordinal);
        context.Request.Path = PathString.FromUriComponent(query < 0 ? target : target[..query]);
        return (context, request);
    }

    private static RequestTargetMiddleware Middleware(RequestDelegate next, bool normalize)
    {
        var options = new StaticOptionsMonitor<GatewayOptions>(new GatewayOptions { Paths = new PathsOptions { Normalize = normalize } });
        var metrics = new GatewayMetrics(new ServiceCollection().AddMetrics().BuildServiceProvider().GetRequiredService<IMeterFactory>());
        var ips = new ClientIpResolver(() => options.CurrentValue.TrustedProxies, () => options.CurrentValue.RateLimits.Ipv6PrefixLength);
        var gate = new IpLimitGate(new LocalRateLimitCounter(TimeProvider.System), new RateLimitPolicyResolver(options), ips, options, metrics);
        return new(next, new Listeners(), gate, metrics, options);
    }

    private static JsonNode Body(HttpContext context)
    {
        context.Response.Body.Position = 0;
        return JsonNode.Parse(context.Response.Body)!;
    }
}
