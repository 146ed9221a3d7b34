using System.Net;
using System.Net.Sockets;
using System.Text;
using Gateway.Tests.Common;

namespace Gateway.Tests.Auth;

/// <summary>
/// Requests that share one kept-alive HTTP/1.1 connection, as a client's connection pool sends them. The
/// gateway remembers the digest of the last key seen on a connection; every request must still be judged
/// by its own key and by the key's current state.
/// </summary>
public sealed class KeptAliveConnectionTests : UpstreamFixture
{
    [Test]
    public async Task OneConnection_KeysChangeBetweenRequests_EachJudgedByItsOwnKey()
    {
        await using var gateway = await StartAsync();
        var acme = (await gateway.CreateOrgAsync("acme")).DefaultKey();
        var other = (await gateway.CreateOrgAsync("other")).DefaultKey();
        var forged = acme[..^1] + (acme[^1] == 'A' ? 'B' : 'A');
        Upstream.Reset();

        await using var connection = await Connection.OpenAsync(gateway.ProxyUrl.Port);
        var statuses = new List<int>();
        foreach (var key in new[] { acme, other, acme, forged, acme, other, other })
        {
            statuses.Add(await connection.GetAsync("/api/x", key));
        }

        Assert.Multiple(() =>
        {
            Assert.That(statuses, Is.EqualTo(new[] { 200, 200, 200, 401, 200, 200, 200 }));
            Assert.That(
                Upstream.Received.Select(e => e.RequestMessage.Headers!["X-Org-Id"].Single()),
                Is.EqualTo(new[] { "acme", "other", "acme", "acme", "other", "other" }));
        });
    }

    [Test]
    public async Task OneConnection_KeyRevokedBetweenRequests_NextRequestRefused()
    {
        await using var gateway = await StartAsync();
        await gateway.CreateOrgAsync("acme");
        var created = await gateway.CreateKeyAsync("acme", new { name = "short_lived" });
        await using var connection = await Connection.OpenAsync(gateway.ProxyUrl.Port);
        Assert.That(await connection.GetAsync("/api/x", created.Str("key")), Is.EqualTo(200));

        await gateway.AdminPostAsync($"admin/keys/{created.Str("id")}/revoke");

        var status = await connection.GetAsync("/api/x", created.Str("key"));
        Assert.Multiple(() =>
        {
            Assert.That(status, Is.EqualTo(401));
            Assert.That(connection.LastBody, Does.Contain("key_revoked"));
        });
    }

    [TestCase(StoreKind.Sqlite)]
    [TestCase(StoreKind.Redis)]
    public async Task OneConnection_TwoWorkspaces_EachRequestChargedAndReportedOnItsOwnLimits(StoreKind store)
    {
        // The limit state of a request is reused for the next one on the same connection.
        var settings = GatewayHost.Routes(Upstream.Url, ("api", "/api/{**rest}", []), ("public", "/public/{**rest}", [("Anonymous", "true")]));
        settings["Gateway:RateLimits:Workspace:PermitLimit"] = "3";
        settings["Gateway:RateLimits:Workspace:Window"] = "00:10:00";
        settings["Gateway:RateLimits:Ip:PermitLimit"] = "1000";
        settings["Gateway:RateLimits:Ip:Window"] = "00:10:00";
        await using var gateway = await GatewayHost.StartAsync(settings, store: store);
        var acme = (await gateway.CreateOrgAsync("acme")).DefaultKey();
        var other = (await gateway.CreateOrgAsync("other")).DefaultKey();
        var forged = acme[..^1] + (acme[^1] == 'A' ? 'B' : 'A');

        await using var connection = await Connection.OpenAsync(gateway.ProxyUrl.Port);
        var answers = new List<string>();
        foreach (var (path, key) in new[] { ("/api/x", acme), ("/api/x", other), ("/api/x", acme), ("/api/x", forged), ("/public/x", acme), ("/api/x", acme), ("/api/x", acme), ("/api/x", other) })
        {
            var status = await connection.GetAsync(path, key);
            answers.Add($"{status} {connection.LastHeaders["X-RateLimit-Limit"]} {connection.LastHeaders["X-RateLimit-Remaining"]}");
        }

        Assert.That(answers, Is.EqualTo(new[]
        {
            "200 3 2", // acme 1 of 3
            "200 3 2", // other 1 of 3
            "200 3 1", // acme 2
            "401 1000 996", // refused by authentication: only the IP limit was charged
            "200 1000 995", // an anonymous route: only the IP limit, whoever the previous request was
            "200 3 0", // acme 3
            "429 3 0", // acme 4: over the limit
            "200 3 1", // other 2
        }));
    }

    private Task<GatewayHost> StartAsync() =>
        GatewayHost.StartAsync(GatewayHost.Routes(Upstream.Url, ("api", "/api/{**rest}", [])));

    /// <summary>One TCP connection; each request waits for the previous response, read by its Content-Length.</summary>
    private sealed class Connection : IAsyncDisposable
    {
        private readonly TcpClient _client;
        private readonly NetworkStream _stream;

        private Connection(TcpClient client)
        {
            _client = client;
            _stream = client.GetStream();
        }

        public string LastBody { get; private set; } = "";

        public Dictionary<string, string> LastHeaders { get; private set; } = [];

        public static async Task<Connection> OpenAsync(int port)
        {
            var client = new TcpClient();
            await client.ConnectAsync(IPAddress.Loopback, port);
            return new Connection(client);
        }

        public async Task<int> GetAsync(string path, string key)
        {
            var request = $"GET {path} HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {key}\r\n\r\n";
            await _stream.WriteAsync(Encoding.ASCII.GetBytes(request));
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));

            var status = int.Parse((await ReadLineAsync(timeout.Token)).Split(' ')[1], System.Globalization.CultureInfo.InvariantCulture);
            var headers = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
            for (var line = await ReadLineAsync(timeout.Token); line.Length > 0; line = await ReadLineAsync(timeout.Token))
            {
                var pair = line.Split(':', 2);
                headers[pair[0]] = pair[1].Trim();
            }

            var body = new StringBuilder();
            if (headers.TryGetValue("Content-Length", out var length))
            {
                body.Append(await ReadAsync(int.Parse(length, System.Globalization.CultureInfo.InvariantCulture), timeout.Token));
            }
            else
            {
                Assert.That(headers["Transfer-Encoding"], Is.EqualTo("chunked"));
                for (var size = ChunkSize(await ReadLineAsync(timeout.Token)); size > 0; size = ChunkSize(await ReadLineAsync(timeout.Token)))
                {
                    body.Append(await ReadAsync(size, timeout.Token));
                    await ReadLineAsync(timeout.Token);
                }

                await ReadLineAsync(timeout.Token);
            }

            LastBody = body.ToString();
            LastHeaders = headers;
            return status;
        }

        private static int ChunkSize(string line) => int.Parse(line.Split(';')[0], System.Globalization.NumberStyles.HexNumber, System.Globalization.CultureInfo.InvariantCulture);

        private async Task<string> ReadAsync(int count, CancellationToken cancellationToken)
        {
            var bytes = new byte[count];
            await _stream.ReadExactlyAsync(bytes, cancellationToken);
            return Encoding.UTF8.GetString(bytes);
        }

        private async Task<string> ReadLineAsync(CancellationToken cancellationToken)
        {
            var line = new StringBuilder();
            var one = new byte[1];
            while (!line.ToString().EndsWith("\r\n", StringComparison.Ordinal))
            {
                Assert.That(await _stream.ReadAsync(one, cancellationToken), Is.EqualTo(1), "the gateway closed the connection");
                line.Append((char)one[0]);
            }

            return line.ToString()[..^2];
        }

        public async ValueTask DisposeAsync()
        {
            await _stream.DisposeAsync();
            _client.Dispose();
        }
    }
}
