using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json.Nodes;
using Gateway.Tests.Common;

namespace Gateway.Tests.Proxy;

/// <summary>
/// What the gateway passes between client and upstream at the protocol's edges: headers a message names as hop-by-hop,
/// headers only the gateway may write, an upstream answer the forwarder gives up on, a client whose body stalls, and
/// a response that fails after it started. The upstream is a bare socket, so it can answer what no well-behaved
/// server would and the test sees exactly what reached it.
/// </summary>
public sealed class UpstreamProtocolTests
{
    private RawUpstream _upstream = null!;
    private GatewayHost _gateway = null!;
    private string _key = null!;

    [SetUp]
    public async Task StartAsync()
    {
        _upstream = RawUpstream.Start();
        var settings = GatewayHost.Routes(_upstream.Url, ("api", "/api/{**rest}", []));
        settings["ReverseProxy:Clusters:upstream:HttpRequest:ActivityTimeout"] = "00:00:01";
        _gateway = await GatewayHost.StartAsync(settings);
        await _gateway.CreateOrgAsync("acme");
        _key = (await _gateway.CreateKeyAsync("acme", new { name = "k" })).Str("key");
    }

    [TearDown]
    public async Task StopAsync()
    {
        await _gateway.DisposeAsync();
        _upstream.Dispose();
    }

    [Test]
    public async Task UpstreamAnswers101ToAPlainRequest_The502CarriesNothingOfTheUpstreams()
    {
        _upstream.Answer = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSet-Cookie: session=evil\r\nX-Upstream: leaked\r\n\r\n";

        using var response = await _gateway.CallAsync("/api/x", _key, r => r.Headers.Add("X-Request-Id", "req-101"));

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.BadGateway));
        Assert.That((await GatewayHost.ProblemAsync(response)).Str("code"), Is.EqualTo("upstream_unreachable"));
        Assert.Multiple(() =>
        {
            Assert.That(response.Headers.Contains("Set-Cookie"), Is.False);
            Assert.That(response.Headers.Contains("X-Upstream"), Is.False);
            Assert.That(response.Headers.Contains("Upgrade"), Is.False);
            Assert.That(response.Headers.Connection, Has.No.Member("Upgrade"));
            Assert.That(response.Headers.GetValues("X-Request-Id").Single(), Is.EqualTo("req-101"));
            Assert.That(response.Headers.Contains("X-RateLimit-Limit"), Is.True, "the limits' headers are the gateway's and stay");
        });
    }

    [Test]
    public async Task HeadersNamedInConnection_EndAtTheGatewayBothWays_StampedHeadersStay()
    {
        _upstream.Answer = "HTTP/1.1 200 OK\r\nConnection: keep-alive, X-Hop\r\nX-Hop: secret\r\nX-Kept: yes\r\nContent-Length: 2\r\n\r\nok";

        using var response = await _gateway.CallAsync("/api/x", _key, r =>
        {
            r.Headers.Connection.Add("X-Foo");
            r.Headers.Connection.Add("X-Org-Id");
            r.Headers.Connection.Add("X-Forwarded-For");
            r.Headers.Add("X-Foo", "internal");
            r.Headers.Add("X-Bar", "kept");
        });

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        var head = _upstream.Heads.Single();
        Assert.Multiple(() =>
        {
            Assert.That(head, Does.Not.Contain("X-Foo:").IgnoreCase);
            Assert.That(head, Does.Contain("X-Bar: kept"));
            Assert.That(head, Does.Contain("X-Org-Id: acme"));
            Assert.That(head, Does.Contain("X-Forwarded-For: "));
            Assert.That(response.Headers.Contains("X-Hop"), Is.False);
            Assert.That(response.Headers.GetValues("X-Kept").Single(), Is.EqualTo("yes"));
        });
    }

    [Test]
    public async Task UpstreamSendsQuotaAndCreditsHeaders_NoneApplies_ClientNeverSeesThem()
    {
        _upstream.Answer = "HTTP/1.1 200 OK\r\nX-Quota-Limit: 1000\r\nX-Quota-Remaining: 999\r\nX-Quota-Reset: 5\r\nX-Credits-Remaining: 77\r\nContent-Length: 2\r\n\r\nok";

        using var response = await _gateway.CallAsync("/api/x", _key);

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        Assert.That(response.Headers.Select(h => h.Key), Has.None.StartWith("X-Quota").And.None.EqualTo("X-Credits-Remaining"));
    }

    [Test]
    public async Task UpstreamSendsChunkedTrailers_Http2ClientGetsNoHopByHopNoConnectionNamedNoGatewayOwnedOnes()
    {
        _upstream.Answer = "HTTP/1.1 200 OK\r\nConnection: keep-alive, X-Hop\r\nTransfer-Encoding: chunked\r\n"
            + "Trailer: X-Hop, X-Checksum\r\n\r\n2\r\nok\r\n0\r\n"
            + "X-Hop: secret\r\nX-Checksum: abc\r\nKeep-Alive: timeout=5\r\nX-RateLimit-Remaining: 424242\r\n"
            + "X-Credits-Remaining: 77\r\n\r\n";
        var settings = GatewayHost.Routes(_upstream.Url, ("api", "/api/{**rest}", []));
        settings["Kestrel:Endpoints:Proxy:Protocols"] = "Http2";
        await using var gateway = await GatewayHost.StartAsync(settings);
        await gateway.CreateOrgAsync("acme");
        var key = (await gateway.CreateKeyAsync("acme", new { name = "k" })).Str("key");

        using var client = ResponseTrailerTests.Http2Client(gateway);
        using var request = ResponseTrailerTests.Http2Request("/api/x");
        request.Headers.TryAddWithoutValidation("Authorization", "Bearer " + key);
        using var response = await client.SendAsync(request);

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        Assert.That(await response.Content.ReadAsStringAsync(), Is.EqualTo("ok"));
        Assert.That(response.TrailingHeaders.NonValidated.Select(h => h.Key), Is.EquivalentTo(new[] { "X-Checksum" }).IgnoreCase);
    }

    [Test]
    public async Task ClientBodyStallsWhileConnected_400BadRequestAndTheConnectionCloses_Not499()
    {
        _upstream.Answer = null; // reads the head, then waits for a body that does not come

        using var client = new TcpClient();
        await client.ConnectAsync(_gateway.ProxyUrl.Host, _gateway.ProxyUrl.Port);
        var stream = client.GetStream();
        await stream.WriteAsync(Encoding.ASCII.GetBytes($"POST /api/slow HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {_key}\r\nContent-Length: 100000\r\n\r\n"));
        await stream.WriteAsync(new byte[1000]);

        var answer = await ReadAnswerAsync(stream).WaitAsync(TimeSpan.FromSeconds(20));

        Assert.That(answer, Does.StartWith("HTTP/1.1 400 "));
        Assert.That(answer, Does.Contain("Connection: close"));
        Assert.That(answer, Does.Contain("\"code\":\"bad_request\""));
        Assert.That(answer, Does.Contain("did not arrive in time"));
    }

    [Test]
    public async Task UpstreamFailsAfterItsResponseStarted_RequestLogKeepsTheUpstreamsStatus()
    {
        _upstream.Answer = "HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\nonly-this";
        _upstream.CloseAfterAnswer = new TaskCompletionSource();

        using (var request = new HttpRequestMessage(HttpMethod.Get, "/api/truncated"))
        {
            request.Headers.Add("Authorization", "Bearer " + _key);
            request.Headers.Add("X-Request-Id", "req-cut");
            using var response = await _gateway.Proxy.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
            Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK));

            // Reset only once the client holds the headers: a reset can discard what the client had not read yet.
            _upstream.CloseAfterAnswer.SetResult();
            Assert.That(async () => await response.Content.ReadAsByteArrayAsync(), Throws.InstanceOf<HttpRequestException>().Or.InstanceOf<IOException>());
        }

        JsonObject? record = null;
        await Eventually.HoldsAsync(
            async () =>
            {
                var page = await _gateway.AdminGetAsync("/admin/orgs/acme/requests");
                record = page["items"]!.AsArray().OfType<JsonObject>().FirstOrDefault(r => r.Str("requestId") == "req-cut");
                return record is not null;
            },
            TimeSpan.FromSeconds(10));
        Assert.That(record!["status"]!.GetValue<int>(), Is.EqualTo(200));
        Assert.That(record["upstreamStatus"]?.GetValue<int>(), Is.EqualTo(200));
    }

    private static async Task<string> ReadAnswerAsync(NetworkStream stream)
    {
        var text = new StringBuilder();
        var buffer = new byte[4096];
        while (!text.ToString().Contains("\"code\"", StringComparison.Ordinal))
        {
            var read = await stream.ReadAsync(buffer);
            if (read == 0)
            {
                break;
            }

            text.Append(Encoding.ASCII.GetString(buffer, 0, read));
        }

        return text.ToString();
    }

    /// <summary>An upstream on a bare socket: records each request's head and writes <see cref="Answer"/> back as bytes.</summary>
    private sealed class RawUpstream : IDisposable
    {
        private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
        private readonly CancellationTokenSource _stop = new();
        private readonly ConcurrentBag<TcpClient> _connections = [];

        private RawUpstream()
        {
            _listener.Start();
            _ = AcceptAsync();
        }

        public string Url => $"http://127.0.0.1:{((IPEndPoint)_listener.LocalEndpoint).Port}/";

        /// <summary>The bytes to answer with; null: answer nothing and keep the connection open.</summary>
        public string? Answer { get; set; }

        /// <summary>When set, the connection is reset once this completes, after the answer was written.</summary>
        public TaskCompletionSource? CloseAfterAnswer { get; set; }

        public ConcurrentQueue<string> Heads { get; } = new();

        public static RawUpstream Start() => new();

        public void Dispose()
        {
            _stop.Cancel();
            _listener.Stop();
            foreach (var connection in _connections)
            {
                connection.Dispose();
            }
        }

        private async Task AcceptAsync()
        {
            while (!_stop.IsCancellationRequested)
            {
                TcpClient connection;
                try
                {
                    connection = await _listener.AcceptTcpClientAsync(_stop.Token);
                }
                catch (Exception) when (_stop.IsCancellationRequested)
                {
                    return;
                }

                _connections.Add(connection);
                _ = ServeAsync(connection);
            }
        }

        private async Task ServeAsync(TcpClient connection)
        {
            try
            {
                var stream = connection.GetStream();
                var head = new StringBuilder();
                var buffer = new byte[4096];
                while (!head.ToString().Contains("\r\n\r\n", StringComparison.Ordinal))
                {
                    var read = await stream.ReadAsync(buffer, _stop.Token);
                    if (read == 0)
                    {
                        return;
                    }

                    head.Append(Encoding.ASCII.GetString(buffer, 0, read));
                }

                Heads.Enqueue(head.ToString());
                if (Answer is { } answer)
                {
                    await stream.WriteAsync(Encoding.ASCII.GetBytes(answer), _stop.Token);
                    if (CloseAfterAnswer is { } close)
                    {
                        await close.Task.WaitAsync(_stop.Token);
                        connection.Client.LingerState = new LingerOption(true, 0);
                        connection.Dispose();
                    }
                }
            }
            catch (Exception) when (_stop.IsCancellationRequested)
            {
            }
            catch (IOException)
            {
            }
        }
    }
}
