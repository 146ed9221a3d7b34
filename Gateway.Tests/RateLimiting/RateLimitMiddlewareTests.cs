using System.Diagnostics.Metrics;
using System.Net;
using System.Text.Json.Nodes;
using Gateway.Auth;
using Gateway.Configuration;
using Gateway.Customers;
using Gateway.Domain;
using Gateway.Http;
using Gateway.Observability;
using Gateway.RateLimiting;
using Gateway.Stores;
using Gateway.Tests.Common;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;
using Yarp.ReverseProxy.Configuration;
using Yarp.ReverseProxy.Forwarder;
using Yarp.ReverseProxy.Model;

namespace Gateway.Tests.RateLimiting;

/// <summary>
/// The two limit stages alone, on <see cref="DefaultHttpContext"/>s with a YARP route feature and the in-memory
/// counter (no server, no store): under a limit the request goes to the next stage and its response starts with
/// <c>X-RateLimit-*</c>; over it the stage answers 429 <c>rate_limited</c> problem+json naming the limit, with
/// Retry-After, and the next stage never runs. The request stage follows the IP stage, as in the pipeline.
/// </summary>
public sealed class RateLimitMiddlewareTests
{
    private static readonly DateTimeOffset Now = new(2030, 1, 1, 0, 0, 0, TimeSpan.Zero);

    [Test]
    public async Task IpStage_UnderLimit_CallsNextAndReportsIpLimit()
    {
        var limits = new Limits(ipPermits: 2);
        var context = Context();

        Assert.That(await limits.IpAsync(context), Is.True);
        Assert.That(context.Features.Get<RateLimitFeature>(), Is.Not.Null, "the request stage reads the IP stage's feature");
        await StartResponseAsync(context);
        AssertLimitHeaders(context, limit: "2", remaining: "1", reset: "61");
        Assert.That(context.Response.StatusCode, Is.EqualTo(StatusCodes.Status200OK));
    }

    [Test]
    public async Task IpStage_OverLimit_429WithRetryAfter_NextNotCalled()
    {
        var limits = new Limits(ipPermits: 1);
        Assert.That(await limits.IpAsync(Context()), Is.True);
        var context = Context();

        Assert.That(await limits.IpAsync(context), Is.False, "the next stage never runs");
        AssertRateLimited(context, "ip", retryAfter: "61");
        await StartResponseAsync(context);
        AssertLimitHeaders(context, limit: "1", remaining: "0", reset: "61");
    }

    [Test]
    public async Task IpStage_OtherClient_HasItsOwnLimit()
    {
        var limits = new Limits(ipPermits: 1);
        Assert.That(await limits.IpAsync(Context("203.0.113.9")), Is.True);

        Assert.That(await limits.IpAsync(Context("198.51.100.7")), Is.True);
    }

    [Test]
    public async Task RequestStage_UnderLimit_CallsNextAndReportsTightestLimit()
    {
        var limits = new Limits(ipPermits: 10, workspacePermits: 3);
        var context = Context(key: Key());

        Assert.That(await limits.BothAsync(context), Is.True);
        await StartResponseAsync(context);
        AssertLimitHeaders(context, limit: "3", remaining: "2", reset: "61");
    }

    [Test]
    public async Task RequestStage_OverWorkspaceLimit_429_NextNotCalledAndIpPermitGivenBack()
    {
        var limits = new Limits(ipPermits: 2, workspacePermits: 1);
        Assert.That(await limits.BothAsync(Context(key: Key())), Is.True);
        var context = Context(key: Key());

        Assert.That(await limits.BothAsync(context), Is.False, "the next stage never runs");
        AssertRateLimited(context, "workspace", retryAfter: "61");

        // The refused request took nothing of the IP limit: its second permit is still there.
        var anonymous = Context();
        Assert.That(await limits.BothAsync(anonymous), Is.True);
        await StartResponseAsync(anonymous);
        AssertLimitHeaders(anonymous, limit: "2", remaining: "0", reset: "61");
    }

    [Test]
    public async Task RequestStage_AnonymousRoute_OnlyIpLimitApplies()
    {
        var limits = new Limits(ipPermits: 5, workspacePermits: 1);

        Assert.That(await limits.BothAsync(Context()), Is.True);
        Assert.That(await limits.BothAsync(Context()), Is.True, "no key: the workspace limit is not charged");
    }

    [Test]
    public void RequestStage_WithoutIpStage_Throws()
    {
        var limits = new Limits(ipPermits: 5);

        Assert.That(() => limits.RequestAsync(Context(key: Key())), Throws.InvalidOperationException);
    }

    private static CachedKey Key() => new(new ApiKeyRecord
    {
        Id = "key_1", OrgId = "acme", Name = "k", Prefix = "gw_live_aaaaaa", Hash = "h", Environment = KeyEnvironments.Production,
        Scopes = ["*"], CreatedAt = DateTimeOffset.UnixEpoch, UpdatedAt = DateTimeOffset.UnixEpoch, Version = 1,
    });

    private static DefaultHttpContext Context(string peer = "203.0.113.9", CachedKey? key = null)
    {
        var context = new DefaultHttpContext();
        context.Features.Set<IHttpResponseFeature>(new StartableResponseFeature());
        context.Response.Body = new MemoryStream();
        context.Connection.RemoteIpAddress = IPAddress.Parse(peer);
        var route = new RouteConfig { RouteId = "api", ClusterId = "c", Match = new RouteMatch { Path = "/api/{**rest}" } };
        context.Features.Set<IReverseProxyFeature>(new ReverseProxyFeature { Route = new RouteModel(route, null!, HttpTransformer.Empty) });
        if (key is not null)
        {
            context.Features.Set<IApiKeyFeature>(new ApiKeyFeature(key));
        }

        return context;
    }

    /// <summary>What a server does when the response starts: the limit headers are written then.</summary>
    private static Task StartResponseAsync(HttpContext context) => ((StartableResponseFeature)context.Features.Get<IHttpResponseFeature>()!).StartAsync();

    private static void AssertLimitHeaders(HttpContext context, string limit, string remaining, string reset)
    {
        var headers = context.Response.Headers;
        Assert.That(
            (headers["X-RateLimit-Limit"].ToString(), headers["X-RateLimit-Remaining"].ToString(), headers["X-RateLimit-Reset"].ToString()),
            Is.EqualTo((limit, remaining, reset)));
    }

    private static void AssertRateLimited(HttpContext context, string limit, string retryAfter)
    {
        Assert.That(context.Response.StatusCode, Is.EqualTo(StatusCodes.Status429TooManyRequests));
        Assert.That(context.Response.ContentType, Is.EqualTo("application/problem+json"));
        Assert.That(context.Response.Headers.RetryAfter.ToString(), Is.EqualTo(retryAfter));
        context.Response.Body.Position = 0;
        var body = JsonNode.Parse(context.Response.Body)!;
        Assert.That((body.Str("code"), body.Str("limit")), Is.EqualTo(("rate_limited", limit)));
    }

    /// <summary>
    /// Both stages over one in-memory counter and one frozen clock, with limits of a minute: a permit taken at
    /// the start of a bucket is released with the bucket after the window's end, so resets read 61 seconds.
    /// </summary>
    private sealed class Limits
    {
        private readonly IpRateLimitMiddleware _ip;
        private readonly RequestRateLimitMiddleware _request;
        private bool _reached;

        public Limits(int ipPermits, int workspacePermits = 1000)
        {
            var time = new FakeTimeProvider(Now);
            var settings = new GatewayOptions();
            settings.RateLimits.Ip = new IpLimitOptions { PermitLimit = ipPermits, Window = TimeSpan.FromMinutes(1) };
            settings.RateLimits.Workspace = new WindowLimitOptions { PermitLimit = workspacePermits, Window = TimeSpan.FromMinutes(1) };
            var options = new StaticOptionsMonitor<GatewayOptions>(settings);
            var metrics = new GatewayMetrics(new ServiceCollection().AddMetrics().BuildServiceProvider().GetRequiredService<IMeterFactory>());
            var counter = new LocalRateLimitCounter(time);
            var policies = new RateLimitPolicyResolver(options);

            // The keys here name no customer, so the directory never asks its store.
            var charger = new LimitCharger(counter, new LocalQuotaCounter(null, new QuotaCalendarTests.RecordingEvents(), time), policies, new CustomerDirectory(null!, Options.Create(settings), time, new StoreResilience(Options.Create(settings), time)), options, time);
            RequestDelegate next = _ => { _reached = true; return Task.CompletedTask; };
            _request = new RequestRateLimitMiddleware(next, counter, charger, metrics);
            _ip = new IpRateLimitMiddleware(next, counter, policies, new ClientIpResolver(() => [], () => 64), metrics);
            Both = new IpRateLimitMiddleware(_request.InvokeAsync, counter, policies, new ClientIpResolver(() => [], () => 64), metrics);
        }

        private IpRateLimitMiddleware Both { get; }

        /// <returns>Whether the stage after the IP stage ran.</returns>
        public async Task<bool> IpAsync(HttpContext context)
        {
            _reached = false;
            await _ip.InvokeAsync(context);
            return _reached;
        }

        /// <returns>Whether the stage after both limit stages ran.</returns>
        public async Task<bool> BothAsync(HttpContext context)
        {
            _reached = false;
            await Both.InvokeAsync(context);
            return _reached;
        }

        public Task RequestAsync(HttpContext context) => _request.InvokeAsync(context);
    }

    /// <summary>A response feature that keeps its OnStarting callbacks and runs them when told, last registered first.</summary>
    private sealed class StartableResponseFeature : HttpResponseFeature
    {
        private readonly List<(Func<object, Task> Callback, object State)> _onStarting = [];

        public override void OnStarting(Func<object, Task> callback, object state) => _onStarting.Add((callback, state));

        public async Task StartAsync()
        {
            for (var i = _onStarting.Count - 1; i >= 0; i--)
            {
                await _onStarting[i].Callback(_onStarting[i].State);
            }
        }
    }
}
