using System.Net;
using Gateway.Tests.Common;

namespace Gateway.Tests.Hosting;

/// <summary>
/// <c>AllowedHosts</c> refuses other <c>Host</c> values on both listeners with the gateway's own problem+json, not the
/// HTML page of ASP.NET Core's host filtering, and an allowed host goes on as before.
/// </summary>
public sealed class AllowedHostsTests
{
    [Test]
    public async Task HostNotAllowed_BothListeners_ProblemJsonAndNeverForwarded()
    {
        using var upstream = Upstream.Start();
        var settings = GatewayHost.Routes(upstream.Url, ("pub", "/pub/{**rest}", [("Anonymous", "true")]));
        settings["AllowedHosts"] = "api.example.com;*.example.org";
        await using var gateway = await GatewayHost.StartAsync(settings);

        foreach (var (client, path) in new[] { (gateway.Proxy, "/pub/x"), (gateway.Admin, "/healthz") })
        {
            using var refused = await SendAsync(client, path, "evil.com");
            Assert.That(refused.StatusCode, Is.EqualTo(HttpStatusCode.BadRequest), path);
            Assert.That(refused.Content.Headers.ContentType?.MediaType, Is.EqualTo("application/problem+json"), path);
            Assert.That((await GatewayHost.ProblemAsync(refused)).Str("code"), Is.EqualTo("bad_request"), path);
            Assert.That(refused.Headers.Contains("X-Request-Id"), Is.True, path);

            foreach (var host in new[] { "api.example.com", "API.example.com:8443", "a.example.org" })
            {
                using var allowed = await SendAsync(client, path, host);
                Assert.That(allowed.StatusCode, Is.EqualTo(HttpStatusCode.OK), $"{path} {host}");
            }
        }

        Assert.That(upstream.Received, Has.Count.EqualTo(3), "only the allowed hosts' requests were forwarded");
    }

    [Test]
    public async Task AnyHost_Default_EveryHostServed()
    {
        using var upstream = Upstream.Start();
        var settings = GatewayHost.Routes(upstream.Url, ("pub", "/pub/{**rest}", [("Anonymous", "true")]));
        settings["AllowedHosts"] = "*";
        await using var gateway = await GatewayHost.StartAsync(settings);

        using var response = await SendAsync(gateway.Proxy, "/pub/x", "anything.test");
        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK));
    }

    private static Task<HttpResponseMessage> SendAsync(HttpClient client, string path, string host)
    {
        var request = new HttpRequestMessage(HttpMethod.Get, path);
        request.Headers.Host = host;
        return client.SendAsync(request);
    }
}
