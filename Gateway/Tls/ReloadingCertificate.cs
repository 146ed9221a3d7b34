using System.Security.Cryptography.X509Certificates;
using Gateway.Observability;
using Microsoft.AspNetCore.Server.Kestrel;

namespace Gateway.Tls;

/// <summary>
/// The certificate of an HTTPS endpoint configured from files (<c>Certificate:Path</c>, with
/// <c>KeyPath</c> for PEM or <c>Password</c> for PKCS#12), re-read when the files change so a renewed
/// certificate (cert-manager, certbot, a rotated Kubernetes Secret) is served without a restart and
/// without rebinding the port. Kestrel's own reload would rebind the endpoint and re-read all of its
/// configuration, which the gateway does not want on every settings change.
/// </summary>
internal sealed partial class ReloadingCertificate
{
    /// <summary>How often a handshake may look at the files' timestamps; renewals are rare, handshakes are not.</summary>
    private static readonly TimeSpan CheckEvery = TimeSpan.FromSeconds(1);

    private readonly string _path;
    private readonly string? _keyPath;
    private readonly string? _password;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly Lock _gate = new();
    private X509Certificate2 _current;
    private (DateTime, long, DateTime, long) _stamp;
    private long _nextCheck;

    private ReloadingCertificate(string path, string? keyPath, string? password, TimeProvider time, ILogger logger)
    {
        (_path, _keyPath, _password, _time, _logger) = (path, keyPath, password, time, logger);
        _stamp = Stamp();
        _current = Load();
        _nextCheck = time.GetTimestamp() + (long)(CheckEvery.TotalSeconds * time.TimestampFrequency);
    }

    /// <summary>
    /// Serves an HTTPS endpoint's file-based certificate through a reloading selector. Endpoints without
    /// a certificate file (plain HTTP, or a certificate from the OS store) are left as Kestrel set them up.
    /// </summary>
    public static void Attach(EndpointConfiguration endpoint, TimeProvider time, ILogger logger)
    {
        var certificate = endpoint.ConfigSection.GetSection("Certificate");
        var path = certificate["Path"];
        if (!endpoint.IsHttps || string.IsNullOrEmpty(path))
        {
            return;
        }

        var reloading = new ReloadingCertificate(Path.GetFullPath(path), certificate["KeyPath"] is { Length: > 0 } key ? Path.GetFullPath(key) : null, certificate["Password"], time, logger);
        endpoint.HttpsOptions.ServerCertificate = null;
        endpoint.HttpsOptions.ServerCertificateSelector = (_, _) => reloading.Current();
        Log.Serving(logger, endpoint.ConfigSection.Key, reloading._path, reloading._current.Subject, reloading._current.NotAfter);
    }

    public X509Certificate2 Current()
    {
        var now = _time.GetTimestamp();
        if (now < Interlocked.Read(ref _nextCheck))
        {
            return Volatile.Read(ref _current);
        }

        lock (_gate)
        {
            if (now >= _nextCheck)
            {
                _nextCheck = now + (long)(CheckEvery.TotalSeconds * _time.TimestampFrequency);
                TryReload();
            }

            return _current;
        }
    }

    private void TryReload()
    {
        (DateTime, long, DateTime, long) stamp;
        try
        {
            stamp = Stamp();
            if (stamp == _stamp)
            {
                return;
            }

            var loaded = Load();
            Volatile.Write(ref _current, loaded);
            _stamp = stamp;
            Log.Reloaded(_logger, _path, loaded.Subject, loaded.NotAfter);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or System.Security.Cryptography.CryptographicException or ArgumentException)
        {
            // A half-written renewal (certificate updated, key not yet) fails to load: keep serving the
            // previous pair and try again on a later handshake.
            Log.ReloadFailed(_logger, _path, ex);
        }
    }

    private X509Certificate2 Load() => _keyPath is not null
        ? X509Certificate2.CreateFromPemFile(_path, _keyPath)
        : X509CertificateLoader.LoadPkcs12FromFile(_path, _password);

    /// <summary>
    /// Modification time and length of both files. FileInfo follows symlinks, so a Kubernetes Secret
    /// mount, which swaps a symlink to a new directory, counts as a change.
    /// </summary>
    private (DateTime, long, DateTime, long) Stamp()
    {
        var certificate = new FileInfo(_path);
        var key = _keyPath is null ? null : new FileInfo(_keyPath);
        return (certificate.LastWriteTimeUtc, certificate.Exists ? certificate.Length : -1,
            key?.LastWriteTimeUtc ?? default, key is { Exists: true } ? key.Length : -1);
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = EventIds.CertificateServed, Level = LogLevel.Information, Message = "Endpoint {Endpoint} serves the certificate in {Path} ({Subject}, valid until {NotAfter:u}); it is reloaded when the files change.")]
        public static partial void Serving(ILogger logger, string endpoint, string path, string subject, DateTime notAfter);

        [LoggerMessage(EventId = EventIds.CertificateReloaded, Level = LogLevel.Information, Message = "Reloaded the certificate in {Path} ({Subject}, valid until {NotAfter:u}).")]
        public static partial void Reloaded(ILogger logger, string path, string subject, DateTime notAfter);

        [LoggerMessage(EventId = EventIds.CertificateReloadFailed, Level = LogLevel.Warning, Message = "Could not reload the certificate in {Path}; still serving the previous one.")]
        public static partial void ReloadFailed(ILogger logger, string path, Exception exception);
    }
}
