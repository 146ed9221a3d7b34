using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Gateway.Tests.Common;
using Microsoft.Extensions.Options;

namespace Gateway.Tests.Stores;

/// <summary>
/// The gateway on redis-server's TLS port (Debian's build has TLS), with a private CA the test creates and
/// trusts through <c>Gateway:Store:RedisCaFile</c> (docs/redis.md, "TLS").
/// </summary>
public sealed class RedisTlsTests
{
    private string _directory = null!;
    private string _caFile = null!;
    private string _otherCaFile = null!;
    private RedisServer _redis = null!;
    private Upstream _upstream = null!;
    private int _tlsPort;

    [OneTimeSetUp]
    public void Start()
    {
        _directory = Path.Combine(Path.GetTempPath(), "gw-redis-tls", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(_directory);
        using var ca = CreateCa("CN=Gateway test Redis CA");
        using var other = CreateCa("CN=Some other CA");
        _caFile = Write("ca.pem", ca.ExportCertificatePem());
        _otherCaFile = Write("other-ca.pem", other.ExportCertificatePem());

        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = TestCertificates.LocalhostServer(key);
        using var server = request.Create(ca, DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(7), RandomNumberGenerator.GetBytes(8));
        var certFile = Write("redis.pem", server.ExportCertificatePem());
        var keyFile = Write("redis.key", key.ExportPkcs8PrivateKeyPem());

        _tlsPort = RedisServer.FreePort();
        _redis = RedisServer.Start(
            "--tls-port", _tlsPort.ToString(System.Globalization.CultureInfo.InvariantCulture),
            "--tls-cert-file", certFile, "--tls-key-file", keyFile, "--tls-ca-cert-file", _caFile, "--tls-auth-clients", "no");
        _upstream = Upstream.Start();
    }

    [OneTimeTearDown]
    public void Stop()
    {
        _upstream?.Dispose();
        _redis?.Dispose();
        Directory.Delete(_directory, recursive: true);
    }

    [Test]
    public async Task Tls_CaTrustedThroughRedisCaFile_KeysWorkOverTls()
    {
        await using var gateway = await GatewayHost.StartAsync(Settings($"127.0.0.1:{_tlsPort},ssl=true", _caFile));

        using (var ready = await gateway.Admin.GetAsync("readyz"))
        {
            Assert.That(ready.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        }

        await gateway.CreateOrgAsync("acme");
        var key = (await gateway.CreateKeyAsync("acme", new { name = "k", rateLimit = new { permitLimit = 1, window = "00:10:00" } }))["key"]!.GetValue<string>();
        Assert.That(await gateway.StatusAsync(key), Is.EqualTo(HttpStatusCode.OK));
        Assert.That(await gateway.CodeAsync(key), Is.EqualTo("rate_limited"));
        Assert.That(RedisSentinelSet.Command(_redis.Port, "EXISTS", "tls:{store}:org:acme"), Is.EqualTo(new[] { "1" }), "written through the TLS port");
    }

    [Test]
    public void Tls_CertificateFromAnotherCa_StartFailsWithOneLine()
    {
        var failure = Assert.ThrowsAsync<InvalidOperationException>(async () => await GatewayHost.StartAsync(Settings($"127.0.0.1:{_tlsPort},ssl=true", _otherCaFile)));

        Assert.That(failure!.Message, Is.EqualTo("Gateway:Store:Redis: Redis's TLS certificate was not accepted; check Gateway:Store:RedisCaFile (the CA that signed it) and that the host in the connection string (or sslHost=) is a name in the certificate."));
        Assert.That(Gateway.Hosting.StartupFailure.Describe(failure).ToList(), Has.Count.EqualTo(1));
    }

    [Test]
    public void RedisCaFile_MissingOrNotPem_StartFailsNamingTheSetting()
    {
        var missing = Path.Combine(_directory, "nope.pem");
        var notPem = Write("not.pem", "just text");

        var first = Assert.ThrowsAsync<OptionsValidationException>(async () => await GatewayHost.StartAsync(Settings($"127.0.0.1:{_tlsPort},ssl=true", missing)));
        var second = Assert.ThrowsAsync<OptionsValidationException>(async () => await GatewayHost.StartAsync(Settings($"127.0.0.1:{_tlsPort},ssl=true", notPem)));

        Assert.That(first!.Failures, Is.EqualTo(new[] { $"Gateway:Store:RedisCaFile must name an existing PEM file (got '{missing}')." }));
        Assert.That(second!.Failures, Is.EqualTo(new[] { $"Gateway:Store:RedisCaFile holds no PEM certificate (-----BEGIN CERTIFICATE-----) (got '{notPem}')." }));
    }

    private Dictionary<string, string?> Settings(string redis, string caFile)
    {
        var settings = GatewayHost.Routes(_upstream.Url, ("api", "/api/{**rest}", []));
        settings["Gateway:Store:Redis"] = redis;
        settings["Gateway:Store:RedisPrefix"] = "tls:";
        settings["Gateway:Store:RedisCaFile"] = caFile;
        settings["Gateway:Store:Timeout"] = "00:00:03";
        return settings;
    }

    private string Write(string name, string content)
    {
        var path = Path.Combine(_directory, name);
        File.WriteAllText(path, content);
        return path;
    }

    private static X509Certificate2 CreateCa(string subject)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest(subject, key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, false));
        return request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(30));
    }
}
