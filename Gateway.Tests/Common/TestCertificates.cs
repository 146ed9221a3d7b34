using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Gateway.Tests.Common;

/// <summary>Certificates the TLS tests make for themselves.</summary>
public static class TestCertificates
{
    /// <summary>A request for a TLS server certificate for <c>localhost</c> and 127.0.0.1, to self-sign or to sign with a test CA.</summary>
    public static CertificateRequest LocalhostServer(ECDsa key)
    {
        var request = new CertificateRequest("CN=localhost", key, HashAlgorithmName.SHA256);
        var names = new SubjectAlternativeNameBuilder();
        names.AddDnsName("localhost");
        names.AddIpAddress(IPAddress.Loopback);
        request.CertificateExtensions.Add(names.Build());
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1")], critical: false));
        return request;
    }
}
