using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using Gateway.Observability;
using Gateway.Tests.Common;

namespace Gateway.Tests.Tls;

/// <summary>
/// HTTPS on the proxy listener from PEM files, configured only through Kestrel endpoint settings:
/// authenticated requests are proxied over HTTP/1.1 and HTTP/2 (ALPN), plain HTTP on the TLS port is
/// turned away without harm, and a renewed certificate is served without a restart.
/// </summary>
public sealed class TlsListenerTests
{
    private Upstream _upstream = null!;
    private string _directory = null!;

    [SetUp]
    public void SetUp()
    {
        _upstream = Upstream.Start();
        _directory = Path.Combine(Path.GetTempPath(), "gw-tests", "tls-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(_directory);
    }

    [TearDown]
    public void TearDown()
    {
        _upstream.Dispose();
        Directory.Delete(_directory, recursive: true);
    }

    [TestCase("1.1")]
    [TestCase("2.0")]
    public async Task HttpsProxyListener_AuthenticatedRequest_IsProxiedOverNegotiatedVersion(string version)
    {
        using var certificate = WriteCertificate("cert.pem", "key.pem");
        await using var gateway = await StartAsync();
        var key = await DefaultKeyAsync(gateway);
        using var client = TlsClient(certificate);

        using var request = new HttpRequestMessage(HttpMethod.Get, ProxyUrl(gateway, "api/hello"))
        {
            Version = Version.Parse(version),
            VersionPolicy = HttpVersionPolicy.RequestVersionExact,
        };
        request.Headers.Authorization = new("Bearer", key);
        using var response = await client.SendAsync(request);

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        Assert.That(response.Version, Is.EqualTo(Version.Parse(version)));
        Assert.That(await response.Content.ReadAsStringAsync(), Is.EqualTo("upstream ok"));
        Assert.That(_upstream.SingleRequestHeaders()["X-Org-Id"], Is.EqualTo("acme"));
    }

    [Test]
    public async Task HttpsProxyListener_NoKey_Returns401OverTls()
    {
        using var certificate = WriteCertificate("cert.pem", "key.pem");
        await using var gateway = await StartAsync();
        using var client = TlsClient(certificate);

        using var response = await client.GetAsync(ProxyUrl(gateway, "api/hello"));

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.Unauthorized));
        Assert.That((await GatewayHost.ProblemAsync(response)).Str("code"), Is.EqualTo("missing_key"));
        Assert.That(_upstream.Received, Is.Empty);
    }

    [Test]
    public async Task HttpsProxyListener_PlainHttpRequest_IsRefusedAndListenerKeepsServing()
    {
        using var certificate = WriteCertificate("cert.pem", "key.pem");
        await using var gateway = await StartAsync();
        var key = await DefaultKeyAsync(gateway);

        using (var tcp = new TcpClient())
        {
            await tcp.ConnectAsync(IPAddress.Loopback, gateway.ProxyUrl.Port);
            var stream = tcp.GetStream();
            await stream.WriteAsync(Encoding.ASCII.GetBytes("GET /api/hello HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer " + key + "\r\n\r\n"));
            stream.ReadTimeout = 15_000;
            var received = new MemoryStream();
            var buffer = new byte[4096];
            int read;
            try
            {
                while ((read = await stream.ReadAsync(buffer).AsTask().WaitAsync(TimeSpan.FromSeconds(15))) > 0)
                {
                    received.Write(buffer, 0, read);
                }
            }
            catch (IOException)
            {
                // A reset is a clean refusal too.
            }

            var answer = Encoding.ASCII.GetString(received.ToArray());
            Assert.That(answer, Is.Empty.Or.StartsWith("HTTP/1.1 400"), "the connection is closed, or answered 400: never proxied");
        }

        Assert.That(_upstream.Received, Is.Empty);
        using var client = TlsClient(certificate);
        using var request = new HttpRequestMessage(HttpMethod.Get, ProxyUrl(gateway, "api/hello"));
        request.Headers.Authorization = new("Bearer", key);
        using var response = await client.SendAsync(request);
        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK), "the TLS listener still serves");
    }

    [Test]
    public async Task HttpsProxyListener_CertificateFilesReplaced_NewHandshakePresentsNewCertificate()
    {
        using var first = WriteCertificate("cert.pem", "key.pem");
        await using var gateway = await StartAsync();
        Assert.That(await PresentedThumbprintAsync(gateway), Is.EqualTo(first.Thumbprint));

        // Written beside, then moved over the served files, as a renewal tool would.
        using var second = WriteCertificate("cert.next.pem", "key.next.pem");
        File.Move(Path.Combine(_directory, "key.next.pem"), Path.Combine(_directory, "key.pem"), overwrite: true);
        File.Move(Path.Combine(_directory, "cert.next.pem"), Path.Combine(_directory, "cert.pem"), overwrite: true);

        await GatewayHost.WaitForAsync(async () => await PresentedThumbprintAsync(gateway) == second.Thumbprint, TimeSpan.FromSeconds(20));

        // And it is a working listener with the new certificate, same port.
        using var client = TlsClient(second);
        using var response = await client.GetAsync(ProxyUrl(gateway, "api/hello"));
        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.Unauthorized));
    }

    [Test]
    public async Task HttpsProxyListener_ReplacementKeyDoesNotMatch_KeepsServingPreviousCertificate()
    {
        using var first = WriteCertificate("cert.pem", "key.pem");
        var logs = new CapturingLoggerProvider();
        await using var gateway = await StartAsync(logs);

        // A half-done renewal: a new certificate next to the old key.
        using var second = WriteCertificate("cert.next.pem", "key.next.pem");
        File.Move(Path.Combine(_directory, "cert.next.pem"), Path.Combine(_directory, "cert.pem"), overwrite: true);

        // The reload is tried on a handshake once the check interval has passed: handshake until the
        // gateway reports the bad pair was tried and refused, checking each answer on the way.
        await GatewayHost.WaitForAsync(
            async () =>
            {
                Assert.That(await PresentedThumbprintAsync(gateway), Is.EqualTo(first.Thumbprint));
                return logs.Entries.Any(e => e.EventId == EventIds.CertificateReloadFailed);
            },
            TimeSpan.FromSeconds(20));

        for (var i = 0; i < 3; i++)
        {
            Assert.That(await PresentedThumbprintAsync(gateway), Is.EqualTo(first.Thumbprint));
        }
    }

    private async Task<GatewayHost> StartAsync(CapturingLoggerProvider? logs = null)
    {
        var settings = GatewayHost.Routes(_upstream.Url, ("api", "/api/{**rest}", []));
        settings["Kestrel:Endpoints:Proxy:Url"] = "https://127.0.0.1:0";
        settings["Kestrel:Endpoints:Proxy:Certificate:Path"] = Path.Combine(_directory, "cert.pem");
        settings["Kestrel:Endpoints:Proxy:Certificate:KeyPath"] = Path.Combine(_directory, "key.pem");
        return await GatewayHost.StartAsync(settings, services: logs is null ? null : logs.AddTo);
    }

    private static async Task<string> DefaultKeyAsync(GatewayHost gateway) =>
        (await gateway.CreateOrgAsync("acme")).DefaultKey();

    private static Uri ProxyUrl(GatewayHost gateway, string path) => new($"https://localhost:{gateway.ProxyUrl.Port}/{path}");

    /// <summary>A client that trusts exactly <paramref name="certificate"/> (pinned), as a client of a private CA would.</summary>
    private static HttpClient TlsClient(X509Certificate2 certificate)
    {
        var handler = new SocketsHttpHandler { UseCookies = false };
        handler.SslOptions.RemoteCertificateValidationCallback = (_, presented, _, _) => presented is not null && presented.GetCertHashString() == certificate.Thumbprint;
        return new HttpClient(handler);
    }

    private static async Task<string?> PresentedThumbprintAsync(GatewayHost gateway)
    {
        using var tcp = new TcpClient();
        await tcp.ConnectAsync(IPAddress.Loopback, gateway.ProxyUrl.Port);
        string? thumbprint = null;
        await using var tls = new SslStream(tcp.GetStream(), leaveInnerStreamOpen: false, (_, presented, _, _) =>
        {
            thumbprint = presented?.GetCertHashString();
            return presented is not null;
        });
        await tls.AuthenticateAsClientAsync(new SslClientAuthenticationOptions { TargetHost = "localhost" });
        return thumbprint;
    }

    /// <summary>A fresh self-signed certificate for localhost and 127.0.0.1, written as PEM files.</summary>
    private X509Certificate2 WriteCertificate(string certificateFile, string keyFile)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = TestCertificates.LocalhostServer(key);
        var certificate = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddDays(1));
        File.WriteAllText(Path.Combine(_directory, certificateFile), certificate.ExportCertificatePem());
        File.WriteAllText(Path.Combine(_directory, keyFile), key.ExportPkcs8PrivateKeyPem());
        return certificate;
    }
}
