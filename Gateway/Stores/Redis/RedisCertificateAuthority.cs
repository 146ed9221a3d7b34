using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Gateway.Stores.Redis;

/// <summary>Reads <c>Store:RedisCaFile</c>: the one certificate authority trusted for the Redis TLS connection.</summary>
internal static class RedisCertificateAuthority
{
    /// <returns>The first certificate of the PEM file, or why there is none (completing "Gateway:Store:RedisCaFile ...").</returns>
    public static (X509Certificate2? Certificate, string? Error) Load(string path)
    {
        if (!File.Exists(path))
        {
            return (null, "must name an existing PEM file");
        }

        try
        {
            var certificates = new X509Certificate2Collection();
            certificates.ImportFromPemFile(path);
            return certificates.Count == 0 ? (null, "holds no PEM certificate (-----BEGIN CERTIFICATE-----)") : (certificates[0], null);
        }
        catch (Exception ex) when (ex is CryptographicException or IOException or UnauthorizedAccessException)
        {
            return (null, "could not be read as a PEM certificate: " + ex.Message.TrimEnd('.'));
        }
    }
}
