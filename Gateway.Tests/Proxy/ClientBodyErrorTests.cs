using System.Net.Sockets;
using System.Text;
using Gateway.Tests.Common;
using Microsoft.Extensions.Logging;
using WireMock.RequestBuilders;
using WireMock.ResponseBuilders;

namespace Gateway.Tests.Proxy;

/// <summary>
/// A request body the client got wrong (too large, bad chunk framing) is the client's error, answered
/// 400/413 with the request id, not a 502 blamed on the upstream; a client that goes away is 499 in the
/// metrics. Neither is logged above Debug.
/// </summary>
public sealed class ClientBodyErrorTests : UpstreamFixture
{
    [Test]
    public async Task BodyOverKestrelLimit_AnonymousRoute_Returns413BodyTooLargeWithRequestId()
    {
        var logs = new CapturingLoggerProvider();
        await using var gateway = await StartAsync(logs);

        var response = await RawHttp.SendAsync(
            gateway.ProxyUrl,
            "POST /public/x HTTP/1.1\r\nHost: localhost\r\nContent-Length: 41943040\r\nX-Request-Id: req-413\r\n\r\n",
            new byte[4096]);

        Assert.That(response.Status, Is.EqualTo(413), response.Body);
        Assert.That(response.Code, Is.EqualTo("body_too_large"));
        Assert.That(response.Headers["X-Request-Id"], Is.EqualTo("req-413"));
        await AssertCountedAsync(gateway, "public", 413, "client_error");
        AssertNothingAboveDebug(logs);
    }

    // The documented setting: Kestrel's own limit from configuration, not only its 30 MB default.
    [Test]
    public async Task BodyOverConfiguredKestrelLimit_Returns413_BodyWithinItIsForwarded()
    {
        Upstream.Server.Given(Request.Create().WithPath("/public/*")).RespondWith(Response.Create().WithStatusCode(200));
        var settings = GatewayHost.Routes(Upstream.Url, ("public", "/public/{**rest}", [("Anonymous", "true")]));
        settings["Kestrel:Limits:MaxRequestBodySize"] = "1000";
        await using var gateway = await GatewayHost.StartAsync(settings);

        var over = await RawHttp.SendAsync(gateway.ProxyUrl, "POST /public/x HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5000\r\nConnection: close\r\n\r\n", new byte[5000]);
        var within = await RawHttp.SendAsync(gateway.ProxyUrl, "POST /public/x HTTP/1.1\r\nHost: localhost\r\nContent-Length: 1000\r\nConnection: close\r\n\r\n", new byte[1000]);

        Assert.That((over.Status, over.Code), Is.EqualTo((413, "body_too_large")), over.Body);
        Assert.That(within.Status, Is.EqualTo(200), within.Body);
    }

    // The chunk size that overflows is reported by Kestrel's chunked parser as a bare IOException (an
    // OverflowException inside), not as a BadHttpRequestException, and it was answered 499 as if the client had gone away.
    [TestCase("5;ext\nbad\r\nhello\r\n0\r\n\r\n", TestName = "BadChunkExtension_AnonymousRoute_Returns400BadRequestWithRequestId")]
    [TestCase("FFFFFFFFFFFF\r\n{}", TestName = "ChunkSizeOverflowing_ClientStillConnected_Returns400BadRequestNot499")]
    public async Task BadChunkFraming_AnonymousRoute_Returns400BadRequestWithRequestId(string body)
    {
        var logs = new CapturingLoggerProvider();
        await using var gateway = await StartAsync(logs);

        var response = await RawHttp.SendAsync(
            gateway.ProxyUrl,
            "POST /public/x HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\nX-Request-Id: req-400\r\nConnection: close\r\n\r\n" + body);

        Assert.That(response.Status, Is.EqualTo(400), response.Body);
        Assert.That(response.Code, Is.EqualTo("bad_request"));
        Assert.That(response.Headers["X-Request-Id"], Is.EqualTo("req-400"));
        await AssertCountedAsync(gateway, "public", 400, "client_error");
        AssertNothingAboveDebug(logs);
    }

    [Test]
    public async Task ClientGoesAwayMidBody_CountedAs499ClientAborted()
    {
        // The upstream is a bare socket so the test knows when the request has reached it: a reset that beats
        // Kestrel to the request line leaves no request to count.
        using var upstream = new TcpListener(System.Net.IPAddress.Loopback, 0);
        upstream.Start();
        var logs = new CapturingLoggerProvider();
        await using var gateway = await GatewayHost.StartAsync(
            GatewayHost.Routes($"http://127.0.0.1:{((System.Net.IPEndPoint)upstream.LocalEndpoint).Port}/", ("public", "/public/{**rest}", [("Anonymous", "true")])),
            services: logs.AddTo);

        using (var client = new TcpClient())
        {
            await client.ConnectAsync(gateway.ProxyUrl.Host, gateway.ProxyUrl.Port);
            var stream = client.GetStream();
            await stream.WriteAsync(Encoding.ASCII.GetBytes("POST /public/x HTTP/1.1\r\nHost: localhost\r\nContent-Length: 100000\r\n\r\n"));
            await stream.WriteAsync(new byte[1000]);
            await stream.FlushAsync();

            using var forwarded = await upstream.AcceptTcpClientAsync().WaitAsync(TimeSpan.FromSeconds(10));
            var head = await ReadHeadAsync(forwarded.GetStream()).WaitAsync(TimeSpan.FromSeconds(10));
            Assert.That(head, Does.StartWith("POST /public/x HTTP/1.1"));
            client.Client.LingerState = new LingerOption(true, 0); // reset, as a client that crashed
        }

        await AssertCountedAsync(gateway, "public", 499, "client_aborted");
        AssertNothingAboveDebug(logs);
    }

    private static async Task<string> ReadHeadAsync(NetworkStream stream)
    {
        var head = new StringBuilder();
        var buffer = new byte[4096];
        while (!head.ToString().Contains("\r\n\r\n", StringComparison.Ordinal))
        {
            var read = await stream.ReadAsync(buffer);
            if (read == 0)
            {
                break;
            }

            head.Append(Encoding.ASCII.GetString(buffer, 0, read));
        }

        return head.ToString();
    }

    [Test]
    public async Task UpstreamPortClosed_StillLoggedAsWarning()
    {
        using var closed = new ClosedPort();
        var logs = new CapturingLoggerProvider();
        await using var gateway = await GatewayHost.StartAsync(GatewayHost.Routes(closed.Url, ("public", "/public/{**rest}", [("Anonymous", "true")])), services: logs.AddTo);

        var response = await RawHttp.GetAsync(gateway.ProxyUrl, "/public/x");

        Assert.That(response.Code, Is.EqualTo("upstream_unreachable"));
        await AssertCountedAsync(gateway, "public", 502, "upstream_error", upstreamErrorExpected: true);
        Assert.That(logs.Entries.Any(e => e.Level == LogLevel.Warning && e.Category == "Yarp.ReverseProxy.Forwarder.HttpForwarder"), Is.True, "upstream failures keep their Warning");
    }

    private static async Task AssertCountedAsync(GatewayHost gateway, string route, int status, string outcome, bool upstreamErrorExpected = false)
    {
        var series = $"gateway_requests_total{{route=\"{route}\",status=\"{status}\",outcome=\"{outcome}\"}} 1";
        string text = "";
        await Eventually.HoldsAsync(
            async () =>
            {
                using var client = new HttpClient { BaseAddress = gateway.AdminUrl };
                text = await client.GetStringAsync("metrics");
                return text.Split('\n').Contains(series);
            },
            TimeSpan.FromSeconds(10),
            () => series + " (counted: " + string.Join(", ", text.Split('\n').Where(l => l.StartsWith("gateway_requests_total{", StringComparison.Ordinal))) + ")");
        if (!upstreamErrorExpected)
        {
            Assert.That(text, Does.Not.Contain("upstream_error"));
        }
    }

    private static void AssertNothingAboveDebug(CapturingLoggerProvider logs)
    {
        var loud = logs.Entries.Where(e => e.Level >= LogLevel.Information && e.Category.StartsWith("Gateway", StringComparison.Ordinal) && !e.Category.Contains("AccessLog", StringComparison.Ordinal)
            || e.Level >= LogLevel.Warning).ToList();
        Assert.That(loud.Select(e => e.Text), Is.Empty);
    }

    private Task<GatewayHost> StartAsync(CapturingLoggerProvider logs)
    {
        Upstream.Server.Given(Request.Create().WithPath("/public/*")).RespondWith(Response.Create().WithStatusCode(200));
        return GatewayHost.StartAsync(GatewayHost.Routes(Upstream.Url, ("public", "/public/{**rest}", [("Anonymous", "true")])), services: logs.AddTo);
    }
}
