using System.Net;
using System.Net.Http.Headers;
using System.Net.Sockets;
using Gateway.Tests.Common;

namespace Gateway.Tests.Admin;

/// <summary>
/// Listeners are told apart by the endpoint that accepted the connection, not by port alone: with the
/// proxy on 127.0.0.1 and the admin API on 127.0.0.2 at the same port, nothing of the admin side answers
/// on the proxy address.
/// </summary>
public sealed class ListenerSeparationTests
{
    private static readonly IPAddress ProxyAddress = IPAddress.Parse("127.0.0.1");
    private static readonly IPAddress AdminAddress = IPAddress.Parse("127.0.0.2");

    [Test]
    public async Task AdminApi_SamePortOtherAddress_NeverAnswersOnProxyAddress()
    {
        using var upstream = Upstream.Start();
        var port = FreePortOnBoth();
        var settings = GatewayHost.Routes(upstream.Url, ("api", "/api/{**rest}", []));
        settings["Kestrel:Endpoints:Proxy:Url"] = $"http://{ProxyAddress}:{port}";
        settings["Kestrel:Endpoints:Admin:Url"] = $"http://{AdminAddress}:{port}";
        await using var gateway = await GatewayHost.StartAsync(settings);

        using var proxy = Client(ProxyAddress, port);
        using var admin = Client(AdminAddress, port);

        foreach (var path in new[] { "admin/orgs", "healthz", "readyz", "metrics", "console/" })
        {
            using var onProxy = await proxy.GetAsync(path);
            Assert.That(onProxy.StatusCode, Is.EqualTo(HttpStatusCode.NotFound), path);
            Assert.That((await GatewayHost.ProblemAsync(onProxy))["code"]!.GetValue<string>(), Is.EqualTo("no_route"), path);
        }

        using var orgs = await admin.GetAsync("admin/orgs");
        Assert.That(orgs.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        using var health = await admin.GetAsync("healthz");
        Assert.That(health.StatusCode, Is.EqualTo(HttpStatusCode.OK));

        using var route = await admin.GetAsync("api/x");
        Assert.That(route.StatusCode, Is.EqualTo(HttpStatusCode.NotFound), "proxy routes stay off the admin address");
        Assert.That(upstream.Received, Is.Empty);
    }

    private static HttpClient Client(IPAddress address, int port)
    {
        var client = new HttpClient { BaseAddress = new Uri($"http://{address}:{port}/") };
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", GatewayHost.AdminToken);
        return client;
    }

    /// <summary>A port free on both loopback addresses.</summary>
    private static int FreePortOnBoth()
    {
        for (var attempt = 0; attempt < 20; attempt++)
        {
            using var first = new TcpListener(ProxyAddress, 0);
            first.Start();
            var port = ((IPEndPoint)first.LocalEndpoint).Port;
            try
            {
                using var second = new TcpListener(AdminAddress, port);
                second.Start();
                return port;
            }
            catch (SocketException)
            {
            }
        }

        Assert.Fail("no port free on both 127.0.0.1 and 127.0.0.2");
        return 0;
    }
}
