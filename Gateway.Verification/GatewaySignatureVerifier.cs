using System.Globalization;
using System.Security.Cryptography;
using System.Text;

namespace Gateway.Verification;

/// <summary>
/// Checks <c>X-Gateway-Signature</c> on a request an upstream received from the gateway. Thread-safe;
/// create one per set of secrets and reuse it.
/// </summary>
/// <example>
/// <code>
/// var verifier = new GatewaySignatureVerifier(new Dictionary&lt;string, string&gt; { ["k1"] = secret });
/// var result = verifier.Verify(request.Method, rawTarget, name =&gt; request.Headers[name].FirstOrDefault());
/// if (result != GatewaySignatureResult.Valid) { /* answer 401 */ }
/// </code>
/// </example>
public sealed class GatewaySignatureVerifier
{
    /// <summary>The default <see cref="Tolerance"/>: five minutes either way.</summary>
    public static readonly TimeSpan DefaultTolerance = TimeSpan.FromMinutes(5);

    private readonly Dictionary<string, byte[]> _keys;
    private readonly TimeProvider _time;

    /// <param name="secrets">Key ring: key id (<c>kid</c>) → secret, the same pairs as the gateway's <c>Gateway:Signing:Secrets</c>.</param>
    /// <param name="tolerance">How far a signature's time may be from now; older requests are refused as replays. Default five minutes.</param>
    /// <param name="timeProvider">The clock; <see cref="TimeProvider.System"/> by default.</param>
    public GatewaySignatureVerifier(IReadOnlyDictionary<string, string> secrets, TimeSpan? tolerance = null, TimeProvider? timeProvider = null)
    {
        ArgumentNullException.ThrowIfNull(secrets);
        if (secrets.Count == 0)
        {
            throw new ArgumentException("At least one secret is required.", nameof(secrets));
        }

        _keys = new Dictionary<string, byte[]>(StringComparer.Ordinal);
        foreach (var (id, secret) in secrets)
        {
            if (string.IsNullOrEmpty(id) || string.IsNullOrEmpty(secret))
            {
                throw new ArgumentException("Key ids and secrets must be non-empty.", nameof(secrets));
            }

            _keys[id] = Encoding.UTF8.GetBytes(secret);
        }

        Tolerance = tolerance ?? DefaultTolerance;
        if (Tolerance <= TimeSpan.Zero)
        {
            throw new ArgumentOutOfRangeException(nameof(tolerance), "The tolerance must be positive.");
        }

        _time = timeProvider ?? TimeProvider.System;
    }

    /// <summary>How far a signature's <c>t</c> may lie from the current time.</summary>
    public TimeSpan Tolerance { get; }

    /// <summary>Verifies a request.</summary>
    /// <param name="method">The request method, e.g. <c>GET</c>.</param>
    /// <param name="pathAndQuery">The request target exactly as received (raw path and query, not decoded).</param>
    /// <param name="header">
    /// Returns a header's value, or null when absent (including for <see cref="GatewaySignature.HeaderName"/>).
    /// Header names are matched case-insensitively by HTTP; the callback receives them in canonical spelling.
    /// </param>
    public GatewaySignatureResult Verify(string method, string pathAndQuery, Func<string, string?> header)
    {
        ArgumentNullException.ThrowIfNull(method);
        ArgumentNullException.ThrowIfNull(pathAndQuery);
        ArgumentNullException.ThrowIfNull(header);

        var value = header(GatewaySignature.HeaderName);
        if (string.IsNullOrEmpty(value))
        {
            return GatewaySignatureResult.Missing;
        }

        if (!TryParse(value, out var timestamp, out var kid, out var mac))
        {
            return GatewaySignatureResult.Malformed;
        }

        if (!_keys.TryGetValue(kid, out var key))
        {
            return GatewaySignatureResult.UnknownKey;
        }

        var now = _time.GetUtcNow().ToUnixTimeSeconds();
        if (Math.Abs((double)now - timestamp) > Tolerance.TotalSeconds)
        {
            return GatewaySignatureResult.Expired;
        }

        var canonical = GatewaySignature.CanonicalString(timestamp, method, pathAndQuery, header);
        var expected = HMACSHA256.HashData(key, Encoding.UTF8.GetBytes(canonical));

        // Constant time: how many leading bytes matched must not show in how long the check took.
        return CryptographicOperations.FixedTimeEquals(expected, mac) ? GatewaySignatureResult.Valid : GatewaySignatureResult.Invalid;
    }

    /// <summary>Verifies a request given as a header dictionary (case-insensitive lookups are the caller's dictionary's).</summary>
    public GatewaySignatureResult Verify(string method, string pathAndQuery, IReadOnlyDictionary<string, string> headers)
    {
        ArgumentNullException.ThrowIfNull(headers);
        return Verify(method, pathAndQuery, name => headers.TryGetValue(name, out var v) ? v : null);
    }

    private static bool TryParse(string value, out long timestamp, out string kid, out byte[] mac)
    {
        timestamp = 0;
        kid = "";
        mac = [];
        string? t = null, k = null, v1 = null;
        foreach (var part in value.Split(','))
        {
            var eq = part.IndexOf('=', StringComparison.Ordinal);
            if (eq <= 0)
            {
                return false;
            }

            var name = part[..eq].Trim();
            var item = part[(eq + 1)..].Trim();
            switch (name)
            {
                case "t" when t is null:
                    t = item;
                    break;
                case "kid" when k is null:
                    k = item;
                    break;
                case "v1" when v1 is null:
                    v1 = item;
                    break;
                case "t" or "kid" or "v1":
                    // A repeated member could make two readers disagree about what was signed.
                    return false;
            }
        }

        if (t is null || k is null || v1 is null || k.Length == 0
            || !long.TryParse(t, NumberStyles.None, CultureInfo.InvariantCulture, out timestamp)
            || v1.Length != 64)
        {
            return false;
        }

        try
        {
            mac = Convert.FromHexString(v1);
        }
        catch (FormatException)
        {
            return false;
        }

        kid = k;
        return true;
    }
}

/// <summary>The outcome of <see cref="GatewaySignatureVerifier.Verify(string, string, Func{string, string})"/>.</summary>
public enum GatewaySignatureResult
{
    /// <summary>Signed by the gateway with a known secret, within the tolerance, over exactly these values.</summary>
    Valid,

    /// <summary>No <c>X-Gateway-Signature</c> header.</summary>
    Missing,

    /// <summary>The header is not <c>t=…,kid=…,v1=…</c> with a numeric time and 64 hex digits.</summary>
    Malformed,

    /// <summary>The <c>kid</c> is not in the key ring.</summary>
    UnknownKey,

    /// <summary>The signature's time is further from now than the tolerance: a replay or a badly wrong clock.</summary>
    Expired,

    /// <summary>The signature does not match: a header, the method or the path was changed, or the secret differs.</summary>
    Invalid,
}
