using System.Net;
using System.Text.Json.Nodes;
using Gateway.Auth;
using Gateway.Domain;
using Gateway.Http;
using Gateway.IpAllowlist;
using Gateway.Tests.Common;
using Microsoft.AspNetCore.Http;

namespace Gateway.Tests.IpAllowlist;

/// <summary>
/// The key IP allowlist stage alone, on a <see cref="DefaultHttpContext"/>: it reads the authenticated
/// key from the request's features, resolves the client through trusted proxies, and either passes the
/// request on or answers 403 <c>ip_not_allowed</c> without calling the next stage.
/// </summary>
public sealed class KeyIpAllowlistMiddlewareTests
{
    [Test]
    public async Task NoKey_AnonymousRoute_CallsNext()
    {
        var context = Context("203.0.113.9", key: null);

        Assert.That(await InvokeAsync(context), Is.True);
    }

    [Test]
    public async Task KeyWithoutAllowlist_AnyAddress_CallsNext()
    {
        var context = Context("203.0.113.9", Key());

        Assert.That(await InvokeAsync(context), Is.True);
    }

    [TestCase("198.51.100.7")]
    [TestCase("::ffff:198.51.100.7")]
    [TestCase("2001:db8::1")]
    public async Task KeyWithAllowlist_ClientInside_CallsNext(string peer)
    {
        var context = Context(peer, Key("198.51.100.0/24", "2001:db8::/32"));

        Assert.That(await InvokeAsync(context), Is.True);
        Assert.That(context.Response.StatusCode, Is.EqualTo(StatusCodes.Status200OK));
    }

    [TestCase("203.0.113.9")]
    [TestCase("198.51.101.7")]
    [TestCase("2001:db9::1")]
    public async Task KeyWithAllowlist_ClientOutside_403IpNotAllowedAndNextNotCalled(string peer)
    {
        var context = Context(peer, Key("198.51.100.0/24", "2001:db8::/32"));

        Assert.That(await InvokeAsync(context), Is.False, "the next stage never runs");
        Assert.That(context.Response.StatusCode, Is.EqualTo(StatusCodes.Status403Forbidden));
        Assert.That(context.Response.ContentType, Is.EqualTo("application/problem+json"));
        var body = Body(context);
        Assert.That(body.Str("code"), Is.EqualTo("ip_not_allowed"));
        Assert.That(body.ToJsonString(), Does.Not.Contain(peer), "the client's address is not echoed");
    }

    [Test]
    public async Task TrustedProxy_ForwardedClientInside_CallsNext()
    {
        var context = Context("10.0.0.2", Key("198.51.100.0/24"));
        context.Request.Headers["X-Forwarded-For"] = "198.51.100.7";

        Assert.That(await InvokeAsync(context, trustedProxies: ["10.0.0.0/8"]), Is.True);
    }

    [Test]
    public async Task UntrustedPeer_ForwardedForClaimsAllowedAddress_403()
    {
        var context = Context("203.0.113.9", Key("198.51.100.0/24"));
        context.Request.Headers["X-Forwarded-For"] = "198.51.100.7";

        Assert.That(await InvokeAsync(context, trustedProxies: ["10.0.0.0/8"]), Is.False, "a header from an untrusted peer is not believed");
        Assert.That(context.Response.StatusCode, Is.EqualTo(StatusCodes.Status403Forbidden));
    }

    private static ApiKeyRecord Key(params string[] allowedCidrs) => new()
    {
        Id = "key_1", OrgId = "acme", Name = "k", Prefix = "gw_live_aaaaaa", Hash = "h", Environment = KeyEnvironments.Production,
        Scopes = ["*"], CreatedAt = DateTimeOffset.UnixEpoch, UpdatedAt = DateTimeOffset.UnixEpoch, Version = 1, AllowedCidrs = allowedCidrs,
    };

    private static DefaultHttpContext Context(string peer, ApiKeyRecord? key)
    {
        var context = new DefaultHttpContext();
        context.Response.Body = new MemoryStream();
        context.Connection.RemoteIpAddress = IPAddress.Parse(peer);
        if (key is not null)
        {
            context.Features.Set<IApiKeyFeature>(new ApiKeyFeature(new CachedKey(key)));
        }

        return context;
    }

    /// <returns>Whether the next stage ran.</returns>
    private static async Task<bool> InvokeAsync(HttpContext context, string[]? trustedProxies = null)
    {
        var called = false;
        var resolver = new ClientIpResolver(() => [.. trustedProxies ?? []], () => 64);
        await new KeyIpAllowlistMiddleware(_ => { called = true; return Task.CompletedTask; }, resolver).InvokeAsync(context);
        return called;
    }

    private static JsonNode Body(HttpContext context)
    {
        context.Response.Body.Position = 0;
        return JsonNode.Parse(context.Response.Body)!;
    }
}
