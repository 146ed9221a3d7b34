using System.Security.Cryptography;
using Microsoft.Extensions.Options;

namespace Gateway.SecretScanning;

/// <summary>The configured report-signing public keys, parsed once per configuration.</summary>
internal sealed class PublicKeyRing(IOptionsMonitor<SecretScanningOptions> options)
{
    private (Dictionary<string, string> Source, Dictionary<string, ECDsa> Keys)? _current;

    /// <summary>True when <paramref name="signature"/> (base64 DER) is a valid ECDSA P-256/SHA-256 signature of <paramref name="body"/> by key <paramref name="id"/>.</summary>
    public bool Verify(string? id, string? signature, ReadOnlySpan<byte> body)
    {
        if (string.IsNullOrEmpty(id) || string.IsNullOrEmpty(signature) || !Keys().TryGetValue(id, out var key))
        {
            return false;
        }

        byte[] der;
        try
        {
            der = Convert.FromBase64String(signature);
        }
        catch (FormatException)
        {
            return false;
        }

        try
        {
            return key.VerifyData(body, der, HashAlgorithmName.SHA256, DSASignatureFormat.Rfc3279DerSequence);
        }
        catch (CryptographicException)
        {
            return false;
        }
    }

    /// <summary>The configured key named <paramref name="id"/>, if any.</summary>
    public bool TryGet(string? id, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out ECDsa? key)
    {
        key = null;
        return !string.IsNullOrEmpty(id) && Keys().TryGetValue(id, out key);
    }

    /// <summary>
    /// Decodes a base64 DER ECDSA P-256 signature without allocating more than it can hold: a DER
    /// SEQUENCE of two INTEGERs of at most 33 bytes each is 8 to 72 bytes. Anything else is refused
    /// before a report body is read.
    /// </summary>
    public static bool TryDecodeSignature(string? signature, Span<byte> der, out int length)
    {
        length = 0;
        return !string.IsNullOrEmpty(signature)
            && signature.Length <= MaxSignatureBase64Chars
            && Convert.TryFromBase64String(signature, der, out length)
            && length >= 8
            && der[0] == 0x30;
    }

    public const int MaxSignatureBytes = 72;

    private const int MaxSignatureBase64Chars = (MaxSignatureBytes + 2) / 3 * 4;

    /// <summary>True when <paramref name="der"/> is a valid signature by <paramref name="key"/> of the body whose SHA-256 is <paramref name="hash"/>.</summary>
    public static bool VerifyHash(ECDsa key, ReadOnlySpan<byte> hash, ReadOnlySpan<byte> der)
    {
        try
        {
            return key.VerifyHash(hash, der, DSASignatureFormat.Rfc3279DerSequence);
        }
        catch (CryptographicException)
        {
            return false;
        }
    }

    public static bool TryLoad(string? pem, out ECDsa? key)
    {
        key = null;
        if (string.IsNullOrWhiteSpace(pem))
        {
            return false;
        }

        var candidate = ECDsa.Create();
        try
        {
            candidate.ImportFromPem(pem);
            if (candidate.KeySize != 256 || candidate.ExportParameters(false).Curve.Oid.Value != ECCurve.NamedCurves.nistP256.Oid.Value)
            {
                candidate.Dispose();
                return false;
            }

            key = candidate;
            return true;
        }
        catch (Exception ex) when (ex is ArgumentException or CryptographicException)
        {
            candidate.Dispose();
            return false;
        }
    }

    private Dictionary<string, ECDsa> Keys()
    {
        var configured = options.CurrentValue.PublicKeys;
        var cached = _current;
        if (cached is { } c && ReferenceEquals(c.Source, configured))
        {
            return c.Keys;
        }

        var keys = new Dictionary<string, ECDsa>(StringComparer.Ordinal);
        foreach (var (id, pem) in configured)
        {
            if (TryLoad(pem, out var key))
            {
                keys[id] = key!;
            }
        }

        _current = (configured, keys);
        return keys;
    }
}
