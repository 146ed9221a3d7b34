using System.Net;
using Gateway.Tests.Common;

namespace Gateway.Tests.Proxy;

/// <summary>
/// The client gets one <c>X-Request-Id</c>, the gateway's (the id its request log and access log hold), even when the
/// upstream answers with an id of its own: two values leave a client or a log shipper to pick one.
/// </summary>
public sealed class ResponseRequestIdTests
{
    [TestCase("mine")]
    [TestCase(null)]
    public async Task UpstreamSetsItsOwnRequestId_ClientGetsOnlyTheGatewaysId(string? sent)
    {
        using var upstream = Upstream.Start();
        upstream.Server.Given(WireMock.RequestBuilders.Request.Create().UsingAnyMethod())
            .RespondWith(WireMock.ResponseBuilders.Response.Create().WithStatusCode(200).WithHeader("X-Request-Id", "upstream-rid"));
        await using var gateway = await GatewayHost.StartAsync(GatewayHost.Routes(upstream.Url, ("api", "/api/{**rest}", []), ("public", "/public/{**rest}", [("Anonymous", "true")])));
        await gateway.CreateOrgAsync("acme");
        var key = (await gateway.CreateKeyAsync("acme", new { name = "k" })).Str("key");

        foreach (var (path, bearer) in new[] { ("/api/x", key), ("/public/x", null) })
        {
            upstream.Reset();
            using var response = await gateway.CallAsync(path, bearer, r =>
            {
                if (sent is not null)
                {
                    r.Headers.Add("X-Request-Id", sent);
                }
            });

            Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK));
            var forwarded = upstream.SingleRequestHeaders()["X-Request-Id"];
            Assert.That(response.Headers.GetValues("X-Request-Id"), Is.EqualTo(new[] { forwarded }), path);
            Assert.That(forwarded, Is.EqualTo(sent ?? forwarded).And.Not.EqualTo("upstream-rid"));
        }
    }
}
