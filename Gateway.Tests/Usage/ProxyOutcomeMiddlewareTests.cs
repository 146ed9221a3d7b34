using System.Text.Json.Nodes;
using Gateway.Auth;
using Gateway.Domain;
using Gateway.Http;
using Gateway.Proxy;
using Gateway.Tests.Common;
using Gateway.Usage;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Time.Testing;
using Yarp.ReverseProxy.Configuration;
using Yarp.ReverseProxy.Forwarder;
using Yarp.ReverseProxy.Model;

namespace Gateway.Tests.Usage;

/// <summary>
/// The usage stage (<see cref="ProxyOutcomeMiddleware"/>, which counts usage once the answer is final) alone, on a
/// <see cref="DefaultHttpContext"/> with a YARP route feature and real <see cref="UsageCounters"/>: each request
/// counts once, under its key (or refused key) or else its route, as its outcome; YARP's bare upstream failures
/// become problem+json; a client that went away is 499; codes that are no usage outcome count nothing.
/// </summary>
public sealed class ProxyOutcomeMiddlewareTests
{
    private static readonly DateTimeOffset Now = new(2030, 1, 1, 0, 0, 30, TimeSpan.Zero);

    [Test]
    public async Task KeyedRequest_Answered_CallsNextAndCountsAllowedUnderTheKey()
    {
        var context = Context(key: Key());
        var stage = new Stage();

        await stage.InvokeAsync(context, c => { c.Response.StatusCode = StatusCodes.Status201Created; return Task.CompletedTask; });

        Assert.That(stage.Called, Is.True);
        Assert.That(stage.Counts(), Is.EqualTo(new[] { (UsageSubjectKind.Key, "key_1", (string?)"acme", UsageOutcomes.Allowed, 1L) }));
        Assert.That(context.Response.StatusCode, Is.EqualTo(StatusCodes.Status201Created));
    }

    [Test]
    public async Task Upstream500_CountedAsUpstream5xx()
    {
        var stage = new Stage();

        await stage.InvokeAsync(Context(key: Key()), c => { c.Response.StatusCode = StatusCodes.Status500InternalServerError; return Task.CompletedTask; });

        Assert.That(stage.Counts().Single().Outcome, Is.EqualTo(UsageOutcomes.Upstream5xx));
    }

    [Test]
    public async Task RefusedKey_CountedUnderThatKeyWithTheRefusalCode()
    {
        var stage = new Stage();

        await stage.InvokeAsync(Context(), c =>
        {
            c.Features.Set(new RefusedKeyFeature(Key()));
            return GatewayProblem.WriteAsync(c, ProblemCodes.KeyRevoked, "revoked");
        });

        Assert.That(stage.Counts(), Is.EqualTo(new[] { (UsageSubjectKind.Key, "key_1", (string?)"acme", "key_revoked", 1L) }));
    }

    [Test]
    public async Task NoKey_CountedUnderTheRoute()
    {
        var stage = new Stage();

        await stage.InvokeAsync(Context(), c => GatewayProblem.WriteAsync(c, ProblemCodes.MissingKey, "no key"));

        Assert.That(stage.Counts(), Is.EqualTo(new[] { (UsageSubjectKind.Route, "api", (string?)null, "missing_key", 1L) }));
    }

    [Test]
    public async Task CodeThatIsNoUsageOutcome_CountsNothing()
    {
        var stage = new Stage();

        await stage.InvokeAsync(Context(key: Key()), c => GatewayProblem.WriteAsync(c, ProblemCodes.BadPath, "bad"));

        Assert.That(stage.Called, Is.True);
        Assert.That(stage.Counts(), Is.Empty);
    }

    [TestCase(ForwarderError.Request, StatusCodes.Status502BadGateway, "upstream_unreachable")]
    [TestCase(ForwarderError.RequestTimedOut, StatusCodes.Status504GatewayTimeout, "upstream_timeout")]
    public async Task ForwarderError_ProblemJsonWithRequestId_CountedAsUpstream5xx(ForwarderError error, int status, string code)
    {
        var context = Context(key: Key());
        var stage = new Stage();

        await stage.InvokeAsync(context, async c =>
        {
            await Task.Yield();
            c.Response.StatusCode = status;
            c.Features.Set<IForwarderErrorFeature>(new ForwarderFailure(error));
        });

        Assert.That(context.Response.StatusCode, Is.EqualTo(status));
        Assert.That(context.Response.ContentType, Is.EqualTo("application/problem+json"));
        context.Response.Body.Position = 0;
        Assert.That(JsonNode.Parse(context.Response.Body)!.Str("code"), Is.EqualTo(code));
        Assert.That(context.Response.Headers[RequestIdMiddleware.HeaderName].ToString(), Is.EqualTo("req-1"));
        Assert.That(stage.Counts().Single().Outcome, Is.EqualTo(UsageOutcomes.Upstream5xx));
    }

    [Test]
    public async Task ClientWentAway_499()
    {
        var context = Context(key: Key());
        using var aborted = new CancellationTokenSource();
        context.RequestAborted = aborted.Token;
        var stage = new Stage();

        await stage.InvokeAsync(context, async c =>
        {
            await Task.Yield();
            await aborted.CancelAsync();
            c.Response.StatusCode = StatusCodes.Status502BadGateway;
            c.Features.Set<IForwarderErrorFeature>(new ForwarderFailure(ForwarderError.RequestCanceled));
        });

        Assert.That(context.Response.StatusCode, Is.EqualTo(499));
        Assert.That(context.Response.Body.Length, Is.Zero, "nobody reads an answer");
    }

    [Test]
    public async Task UsageOff_StillCallsNextAndAnswers()
    {
        var context = Context(key: Key());
        var stage = new Stage(usageOn: false);

        await stage.InvokeAsync(context, c => { c.Response.StatusCode = StatusCodes.Status204NoContent; return Task.CompletedTask; });

        Assert.That(stage.Called, Is.True);
        Assert.That(context.Response.StatusCode, Is.EqualTo(StatusCodes.Status204NoContent));
    }

    private static CachedKey Key() => new(new ApiKeyRecord
    {
        Id = "key_1", OrgId = "acme", Name = "k", Prefix = "gw_live_aaaaaa", Hash = "h", Environment = KeyEnvironments.Production,
        Scopes = ["*"], CreatedAt = DateTimeOffset.UnixEpoch, UpdatedAt = DateTimeOffset.UnixEpoch, Version = 1,
    });

    private static DefaultHttpContext Context(CachedKey? key = null)
    {
        var context = new DefaultHttpContext { TraceIdentifier = "req-1" };
        context.Response.Body = new MemoryStream();
        var route = new RouteConfig { RouteId = "api", ClusterId = "c", Match = new RouteMatch { Path = "/api/{**rest}" } };
        context.Features.Set<IReverseProxyFeature>(new ReverseProxyFeature { Route = new RouteModel(route, null!, HttpTransformer.Empty) });
        if (key is not null)
        {
            context.Features.Set<IApiKeyFeature>(new ApiKeyFeature(key));
        }

        return context;
    }

    /// <summary>The stage over real counters on a frozen clock, and whether the next stage ran.</summary>
    private sealed class Stage(bool usageOn = true)
    {
        private readonly UsageCounters? _usage = usageOn ? new UsageCounters(new FakeTimeProvider(Now)) : null;

        public bool Called { get; private set; }

        public Task InvokeAsync(HttpContext context, RequestDelegate next)
        {
            var stage = ProxyOutcomeStage.Over(c => { Called = true; return next(c); }, new FakeTimeProvider(Now), _usage);
            return stage(context);
        }

        /// <returns>Every non-zero count, as (kind, subject, organization, outcome, count).</returns>
        public List<(UsageSubjectKind Kind, string Subject, string? OrgId, string Outcome, long Count)> Counts() =>
            [.. _usage!.Drain().SelectMany(r => r.Counts
                .Select((count, outcome) => (r.Kind, r.Subject, r.OrgId, Outcome: UsageOutcomes.All[outcome], Count: count))
                .Where(c => c.Count != 0))];
    }

    private sealed class ForwarderFailure(ForwarderError error) : IForwarderErrorFeature
    {
        public ForwarderError Error { get; } = error;

        public Exception? Exception => null;
    }
}
