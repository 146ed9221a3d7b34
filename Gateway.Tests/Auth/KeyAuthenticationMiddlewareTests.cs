using System.Diagnostics.Metrics;
using System.Text.Json.Nodes;
using Gateway.Auth;
using Gateway.Configuration;
using Gateway.Domain;
using Gateway.Http;
using Gateway.Keys;
using Gateway.Observability;
using Gateway.Stores;
using Gateway.Tests.Common;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Yarp.ReverseProxy.Configuration;
using Yarp.ReverseProxy.Forwarder;
using Yarp.ReverseProxy.Model;

namespace Gateway.Tests.Auth;

/// <summary>
/// The key-authentication stage alone, on a <see cref="DefaultHttpContext"/> with a YARP route feature and an
/// in-memory key lookup (no server, no store): a valid key reaches the next stage as <see cref="IApiKeyFeature"/>
/// with the client's Authorization removed; each refusal answers its problem code and challenge before the next
/// stage; an anonymous route passes without a key.
/// </summary>
public sealed class KeyAuthenticationMiddlewareTests
{
    private static readonly DateTimeOffset Now = new(2030, 1, 1, 0, 0, 0, TimeSpan.Zero);

    [Test]
    public async Task ValidKey_CallsNextWithKeyFeature_AuthorizationRemoved()
    {
        var (token, record) = NewKey();
        var context = Context(Route(), $"Bearer {token}");
        IApiKeyFeature? seen = null;

        await Middleware(c => { seen = c.Features.Get<IApiKeyFeature>(); return Task.CompletedTask; }, record).InvokeAsync(context);

        Assert.That(seen, Is.Not.Null);
        Assert.That(context.Request.Headers.Authorization.Count, Is.Zero, "never forwarded");
        Assert.That(context.Response.StatusCode, Is.EqualTo(StatusCodes.Status200OK));
    }

    [Test]
    public async Task NoAuthorization_401MissingKey_NextNotCalled()
    {
        var context = Context(Route(), authorization: null);

        var called = await InvokeAsync(context, record: null);

        Assert.That(called, Is.False);
        AssertProblem(context, StatusCodes.Status401Unauthorized, "missing_key");
        Assert.That(context.Response.Headers.WWWAuthenticate.ToString(), Is.EqualTo("Bearer"));
    }

    [TestCase("Bearer not-a-key")]
    [TestCase("Basic dXNlcjpwYXNz")]
    public async Task MalformedKey_401InvalidKey(string authorization)
    {
        var context = Context(Route(), authorization);

        Assert.That(await InvokeAsync(context, record: null), Is.False);
        AssertProblem(context, StatusCodes.Status401Unauthorized, "invalid_key");
    }

    [Test]
    public async Task UnknownKey_401InvalidKey()
    {
        var (token, _) = NewKey();
        var context = Context(Route(), $"Bearer {token}");

        Assert.That(await InvokeAsync(context, record: null), Is.False);
        AssertProblem(context, StatusCodes.Status401Unauthorized, "invalid_key");
    }

    [Test]
    public async Task RevokedKey_401KeyRevoked()
    {
        var (token, record) = NewKey();
        var context = Context(Route(), $"Bearer {token}");

        Assert.That(await InvokeAsync(context, record with { State = KeyState.Revoked, RevokedAt = Now.AddMinutes(-1) }), Is.False);
        AssertProblem(context, StatusCodes.Status401Unauthorized, "key_revoked");
    }

    [Test]
    public async Task MissingScope_403InsufficientScope()
    {
        var (token, record) = NewKey();
        var context = Context(Route((RoutePolicy.RequiredScopesKey, "orders:write")), $"Bearer {token}");

        Assert.That(await InvokeAsync(context, record with { Scopes = ["orders:read"] }), Is.False);
        AssertProblem(context, StatusCodes.Status403Forbidden, "insufficient_scope");
        Assert.That(context.Response.Headers.WWWAuthenticate.ToString(), Does.Contain("insufficient_scope"));
    }

    [Test]
    public async Task AnonymousRoute_NoKey_CallsNextAndRemovesAuthorization()
    {
        var context = Context(Route((RoutePolicy.AnonymousKey, "true")), "Bearer whatever");

        Assert.That(await InvokeAsync(context, record: null), Is.True);
        Assert.That(context.Request.Headers.Authorization.Count, Is.Zero);
    }

    private static (string Token, ApiKeyRecord Record) NewKey()
    {
        var token = ApiKeyFormat.Generate("gw", KeyEnvironments.Production);
        var record = new ApiKeyRecord
        {
            Id = "key_1", OrgId = "acme", Name = "k", Prefix = ApiKeyFormat.DisplayPrefix(token), Hash = ApiKeyFormat.Hash(token),
            Environment = KeyEnvironments.Production, Scopes = ["*"], CreatedAt = Now.AddDays(-1), UpdatedAt = Now.AddDays(-1), Version = 1,
        };
        return (token, record);
    }

    private static RouteConfig Route(params (string Key, string Value)[] metadata) => new()
    {
        RouteId = "api",
        ClusterId = "c",
        Match = new RouteMatch { Path = "/api/{**rest}" },
        Metadata = metadata.Length == 0 ? null : metadata.ToDictionary(m => m.Key, m => m.Value),
    };

    private static DefaultHttpContext Context(RouteConfig route, string? authorization)
    {
        var context = new DefaultHttpContext();
        context.Response.Body = new MemoryStream();
        context.Features.Set<IReverseProxyFeature>(new ReverseProxyFeature { Route = new RouteModel(route, null!, HttpTransformer.Empty) });
        if (authorization is not null)
        {
            context.Request.Headers.Authorization = authorization;
        }

        return context;
    }

    /// <returns>Whether the next stage ran.</returns>
    private static async Task<bool> InvokeAsync(HttpContext context, ApiKeyRecord? record)
    {
        var called = false;
        await Middleware(_ => { called = true; return Task.CompletedTask; }, record).InvokeAsync(context);
        return called;
    }

    private static KeyAuthenticationMiddleware Middleware(RequestDelegate next, ApiKeyRecord? record)
    {
        var time = new Microsoft.Extensions.Time.Testing.FakeTimeProvider(Now);
        var gateway = new GatewayOptions();
        var options = Options.Create(gateway);
        var metrics = new GatewayMetrics(new ServiceCollection().AddMetrics().BuildServiceProvider().GetRequiredService<IMeterFactory>());
        var store = new OneKeyLookup(record);
        var resolver = new KeyResolver(store, options, time, new StoreResilience(options, time), metrics);
        var usage = new KeyUsageTracker(store, options, time, NullLogger<KeyUsageTracker>.Instance);
        return new KeyAuthenticationMiddleware(next, resolver, usage, new StaticOptionsMonitor<GatewayOptions>(gateway), time, metrics, NullLogger<KeyAuthenticationMiddleware>.Instance);
    }

    private static void AssertProblem(HttpContext context, int status, string code)
    {
        Assert.That(context.Response.StatusCode, Is.EqualTo(status));
        Assert.That(context.Response.ContentType, Is.EqualTo("application/problem+json"));
        context.Response.Body.Position = 0;
        Assert.That(JsonNode.Parse(context.Response.Body)!.Str("code"), Is.EqualTo(code));
    }

    /// <summary>A store that knows at most one key, found by its hash.</summary>
    private sealed class OneKeyLookup(ApiKeyRecord? record) : IKeyLookup, IKeyUsageRecorder
    {
        public Task<ApiKeyRecord?> FindKeyByHashAsync(string hash, CancellationToken cancellationToken) =>
            Task.FromResult(record is not null && string.Equals(record.Hash, hash, StringComparison.OrdinalIgnoreCase) ? record : null);

        public Task RecordKeyUsageAsync(IReadOnlyCollection<KeyValuePair<string, DateTimeOffset>> usage, CancellationToken cancellationToken) => Task.CompletedTask;
    }
}
