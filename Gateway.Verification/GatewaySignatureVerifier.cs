using System.Globalization;
using System.Security.Cryptography;
using System.Text;

namespace Gateway.Verification;

/// <summary>
/// Checks <c>X-Gateway-Signature</c> on a request an upstream received from the gateway. Thread-safe;
/// create one per key ring and reuse it. Version 1 (<see cref="GatewaySignatureVerifier(IReadOnlyDictionary{string, string}, TimeSpan?, TimeProvider?)"/>)
/// checks the shared secret's <c>v1</c>; version 2 (<see cref="ForCluster"/>) checks the <c>v2</c> made with this
/// cluster's own key, which also covers the host, the cluster, a nonce and the body.
/// </summary>
/// <example>
/// Pass every header as it arrived, one pair per header line, so a header sent twice is seen:
/// <code>
/// var verifier = GatewaySignatureVerifier.ForCluster("orders", new Dictionary&lt;string, string&gt; { ["k1"] = clusterKeyHex },
///     new GatewaySignatureOptions { NonceCache = new MemoryNonceCache() });
/// var headers = request.Headers.SelectMany(h =&gt; h.Value.Select(v =&gt; KeyValuePair.Create(h.Key, v ?? "")));
/// var result = verifier.Verify(request.Method, rawTarget, headers, body);
/// if (result != GatewaySignatureResult.Valid) { /* answer 401 */ }
/// </code>
/// </example>
public sealed class GatewaySignatureVerifier
{
    /// <summary>The default tolerance: five minutes either way.</summary>
    public static readonly TimeSpan DefaultTolerance = TimeSpan.FromMinutes(5);

    private static readonly Dictionary<string, int> SingleHeaderIndex = BuildSingleHeaderIndex();

    private readonly Dictionary<string, byte[]> _keys;
    private readonly TimeProvider _time;
    private readonly string? _clusterId;
    private readonly GatewaySignatureOptions _options;
    private readonly HashSet<string>? _hosts;

    /// <summary>A version 1 verifier: checks <c>v1</c> with the gateway's shared secrets.</summary>
    /// <param name="secrets">Key ring: key id (<c>kid</c>) → secret, the same pairs as the gateway's <c>Gateway:Signing:Secrets</c>.</param>
    /// <param name="tolerance">How far a signature's time may be from now; older requests are refused as replays. Default five minutes.</param>
    /// <param name="timeProvider">The clock; <see cref="TimeProvider.System"/> by default.</param>
    public GatewaySignatureVerifier(IReadOnlyDictionary<string, string> secrets, TimeSpan? tolerance = null, TimeProvider? timeProvider = null)
        : this(null, ReadSecrets(secrets), new GatewaySignatureOptions { Tolerance = tolerance ?? DefaultTolerance, TimeProvider = timeProvider })
    {
    }

    private GatewaySignatureVerifier(string? clusterId, Dictionary<string, byte[]> keys, GatewaySignatureOptions options)
    {
        if (options.Tolerance <= TimeSpan.Zero)
        {
            throw new ArgumentOutOfRangeException(nameof(options), "The tolerance must be positive.");
        }

        _clusterId = clusterId;
        _keys = keys;
        _options = options;
        _time = options.TimeProvider ?? TimeProvider.System;
        _hosts = options.AllowedHosts is { Count: > 0 } hosts ? new HashSet<string>(hosts, StringComparer.OrdinalIgnoreCase) : null;
    }

    /// <summary>
    /// A version 2 verifier for the upstreams of one cluster: checks <c>v2</c> with that cluster's keys and
    /// ignores <c>v1</c>, so a request signed only with the shared secret is refused.
    /// </summary>
    /// <param name="clusterId">The gateway's id of the cluster this upstream belongs to (the <c>ReverseProxy:Clusters</c> key).</param>
    /// <param name="clusterKeys">Key ring: key id (<c>kid</c>) → this cluster's key as 64 hex digits (<see cref="GatewaySignature.DeriveClusterKey"/>).</param>
    /// <param name="options">Tolerance, clock, replay cache, allowed hosts and whether a body must be covered.</param>
    public static GatewaySignatureVerifier ForCluster(string clusterId, IReadOnlyDictionary<string, string> clusterKeys, GatewaySignatureOptions? options = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(clusterId);
        ArgumentNullException.ThrowIfNull(clusterKeys);
        if (clusterKeys.Count == 0)
        {
            throw new ArgumentException("At least one key is required.", nameof(clusterKeys));
        }

        var keys = new Dictionary<string, byte[]>(StringComparer.Ordinal);
        foreach (var (id, hex) in clusterKeys)
        {
            if (string.IsNullOrEmpty(id) || hex is not { Length: 64 } || !IsHex(hex))
            {
                throw new ArgumentException("Key ids must be non-empty and keys 64 hex digits (32 bytes).", nameof(clusterKeys));
            }

            keys[id] = Convert.FromHexString(hex);
        }

        return new GatewaySignatureVerifier(clusterId, keys, options ?? new GatewaySignatureOptions());
    }

    /// <summary>How far a signature's <c>t</c> may lie from the current time.</summary>
    public TimeSpan Tolerance => _options.Tolerance;

    /// <summary>1 for a shared-secret verifier, 2 for a cluster verifier.</summary>
    public int Version => _clusterId is null ? 1 : 2;

    /// <summary>Verifies a request.</summary>
    /// <param name="method">The request method, e.g. <c>GET</c>.</param>
    /// <param name="pathAndQuery">The request target exactly as received (raw path and query, not decoded).</param>
    /// <param name="headers">
    /// Every header line as received, one pair each, in any letter case (a header sent twice appears twice).
    /// Any of <see cref="GatewaySignature.SingleHeaders"/> present more than once, in any letter case or spelled
    /// with <c>_</c> for <c>-</c>, gives <see cref="GatewaySignatureResult.DuplicateHeader"/>: an application
    /// reading one copy could read another than the one signed.
    /// </param>
    /// <param name="body">
    /// The request body as received (empty when none). Version 1 ignores it; version 2 checks it against the
    /// signed <c>Content-Digest</c>, or that it is empty when the gateway signed that there was none.
    /// </param>
    public GatewaySignatureResult Verify(string method, string pathAndQuery, IEnumerable<KeyValuePair<string, string>> headers, ReadOnlySpan<byte> body = default)
    {
        ArgumentNullException.ThrowIfNull(method);
        ArgumentNullException.ThrowIfNull(pathAndQuery);
        ArgumentNullException.ThrowIfNull(headers);

        // Version 1 covers neither Host nor Content-Digest, the last two: a copy of those is not its concern.
        var checkedCount = _clusterId is null ? 1 + GatewaySignature.SignedHeaders.Count : SingleHeaderIndex.Count;
        var values = new string?[SingleHeaderIndex.Count];
        foreach (var (name, value) in headers)
        {
            if (name is not null && SingleHeaderIndex.TryGetValue(GatewaySignature.NormalizeName(name), out var index) && index < checkedCount)
            {
                if (values[index] is not null)
                {
                    return GatewaySignatureResult.DuplicateHeader;
                }

                values[index] = value ?? "";
            }
        }

        return Verify(method, pathAndQuery, name => values[SingleHeaderIndex[GatewaySignature.NormalizeName(name)]], body);
    }

    /// <summary>Verifies a request whose headers are read one name at a time.</summary>
    /// <remarks>
    /// A lookup cannot tell a header sent twice: an attacker replaying a captured request can add a second
    /// <c>X-Org-Id</c> that the lookup hides and the application reads. Use the overload taking every header.
    /// </remarks>
    [Obsolete("A lookup cannot see a header sent twice; pass every header as a list of pairs.")]
    public GatewaySignatureResult Verify(string method, string pathAndQuery, Func<string, string?> header)
    {
        ArgumentNullException.ThrowIfNull(method);
        ArgumentNullException.ThrowIfNull(pathAndQuery);
        ArgumentNullException.ThrowIfNull(header);
        return Verify(method, pathAndQuery, header, default);
    }

    private GatewaySignatureResult Verify(string method, string pathAndQuery, Func<string, string?> header, ReadOnlySpan<byte> body)
    {
        var value = header(GatewaySignature.HeaderName);
        if (string.IsNullOrEmpty(value))
        {
            return GatewaySignatureResult.Missing;
        }

        if (!SignatureHeader.TryParse(value, out var parsed))
        {
            return GatewaySignatureResult.Malformed;
        }

        var mac = _clusterId is null ? parsed.V1 : parsed.V2;
        if (mac is null || (_clusterId is not null && parsed.Nonce is null))
        {
            // A version 2 verifier must not fall back to v1: any holder of the shared secret can make a v1.
            return GatewaySignatureResult.Malformed;
        }

        if (!_keys.TryGetValue(parsed.Kid, out var key))
        {
            return GatewaySignatureResult.UnknownKey;
        }

        var now = _time.GetUtcNow().ToUnixTimeSeconds();
        if (Math.Abs((double)now - parsed.Timestamp) > _options.Tolerance.TotalSeconds)
        {
            return GatewaySignatureResult.Expired;
        }

        if (_clusterId is null)
        {
            var canonical = GatewaySignature.CanonicalString(parsed.Timestamp, method, pathAndQuery, header);
            return Matches(key, canonical, mac) ? GatewaySignatureResult.Valid : GatewaySignatureResult.Invalid;
        }

        var host = header("Host") ?? "";
        if (_hosts is not null && !_hosts.Contains(host))
        {
            return GatewaySignatureResult.HostNotAllowed;
        }

        // The content line is what the gateway put in Content-Digest, or says there was no body or that it is
        // not covered. A verifier cannot tell those two apart from the request, so it tries both.
        var digest = header(GatewaySignature.ContentDigestHeaderName);
        string content;
        if (digest is not null)
        {
            content = digest;
            if (!Matches(key, GatewaySignature.CanonicalStringV2(parsed.Timestamp, parsed.Nonce!, method, host, _clusterId, pathAndQuery, header, content), mac))
            {
                return GatewaySignatureResult.Invalid;
            }

            if (!string.Equals(GatewaySignature.ContentDigest(body), digest, StringComparison.Ordinal))
            {
                return GatewaySignatureResult.BodyMismatch;
            }
        }
        else if (Matches(key, GatewaySignature.CanonicalStringV2(parsed.Timestamp, parsed.Nonce!, method, host, _clusterId, pathAndQuery, header, GatewaySignature.NoBody), mac))
        {
            if (!body.IsEmpty)
            {
                return GatewaySignatureResult.BodyMismatch;
            }
        }
        else if (Matches(key, GatewaySignature.CanonicalStringV2(parsed.Timestamp, parsed.Nonce!, method, host, _clusterId, pathAndQuery, header, GatewaySignature.UnsignedBody), mac))
        {
            if (_options.RequireBodyDigest)
            {
                return GatewaySignatureResult.BodyNotSigned;
            }
        }
        else
        {
            return GatewaySignatureResult.Invalid;
        }

        // Last, so only a request that is valid in every other way takes up a place in the cache. The entry
        // can go once t is outside the tolerance: from then on the time check refuses the replay.
        if (_options.NonceCache is { } cache
            && !cache.TryAdd(parsed.Nonce!, DateTimeOffset.FromUnixTimeSeconds(parsed.Timestamp) + _options.Tolerance))
        {
            return GatewaySignatureResult.Replayed;
        }

        return GatewaySignatureResult.Valid;
    }

    // Constant time: how many leading bytes matched must not show in how long the check took.
    private static bool Matches(byte[] key, string canonical, byte[] mac) =>
        CryptographicOperations.FixedTimeEquals(HMACSHA256.HashData(key, Encoding.UTF8.GetBytes(canonical)), mac);

    private static Dictionary<string, byte[]> ReadSecrets(IReadOnlyDictionary<string, string> secrets)
    {
        ArgumentNullException.ThrowIfNull(secrets);
        if (secrets.Count == 0)
        {
            throw new ArgumentException("At least one secret is required.", nameof(secrets));
        }

        var keys = new Dictionary<string, byte[]>(StringComparer.Ordinal);
        foreach (var (id, secret) in secrets)
        {
            if (string.IsNullOrEmpty(id) || string.IsNullOrEmpty(secret))
            {
                throw new ArgumentException("Key ids and secrets must be non-empty.", nameof(secrets));
            }

            keys[id] = Encoding.UTF8.GetBytes(secret);
        }

        return keys;
    }

    private static Dictionary<string, int> BuildSingleHeaderIndex()
    {
        var index = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var name in GatewaySignature.SingleHeaders)
        {
            index[GatewaySignature.NormalizeName(name)] = index.Count;
        }

        return index;
    }

    private static bool IsHex(string value)
    {
        foreach (var c in value)
        {
            if (!char.IsAsciiHexDigit(c))
            {
                return false;
            }
        }

        return true;
    }

    private readonly record struct SignatureHeader(long Timestamp, string Kid, string? Nonce, byte[]? V1, byte[]? V2)
    {
        public static bool TryParse(string value, out SignatureHeader parsed)
        {
            parsed = default;
            string? t = null, kid = null, n = null, v1 = null, v2 = null;
            foreach (var part in value.Split(','))
            {
                var eq = part.IndexOf('=', StringComparison.Ordinal);
                if (eq <= 0)
                {
                    return false;
                }

                var item = part[(eq + 1)..].Trim();
                var repeated = part[..eq].Trim() switch
                {
                    "t" => !Set(ref t, item),
                    "kid" => !Set(ref kid, item),
                    "n" => !Set(ref n, item),
                    "v1" => !Set(ref v1, item),
                    "v2" => !Set(ref v2, item),

                    // Unknown members are left for later versions.
                    _ => false,
                };
                if (repeated)
                {
                    // A repeated member could make two readers disagree about what was signed.
                    return false;
                }
            }

            if (t is null || kid is not { Length: > 0 } || (v1 is null && v2 is null)
                || !long.TryParse(t, NumberStyles.None, CultureInfo.InvariantCulture, out var timestamp)
                || (n is not null && !IsNonce(n))
                || !TryHex(v1, out var mac1) || !TryHex(v2, out var mac2))
            {
                return false;
            }

            parsed = new SignatureHeader(timestamp, kid, n, mac1, mac2);
            return true;
        }

        private static bool Set(ref string? slot, string value)
        {
            if (slot is not null)
            {
                return false;
            }

            slot = value;
            return true;
        }

        // The gateway sends 22 base64url characters (128 bits); a bound keeps replay caches small.
        private static bool IsNonce(string n)
        {
            if (n.Length is < 16 or > 64)
            {
                return false;
            }

            foreach (var c in n)
            {
                if (!char.IsAsciiLetterOrDigit(c) && c is not '-' and not '_')
                {
                    return false;
                }
            }

            return true;
        }

        private static bool TryHex(string? value, out byte[]? mac)
        {
            mac = null;
            if (value is null)
            {
                return true;
            }

            if (value.Length != 64 || !IsHex(value))
            {
                return false;
            }

            mac = Convert.FromHexString(value);
            return true;
        }
    }
}

/// <summary>Settings of a version 2 verifier (<see cref="GatewaySignatureVerifier.ForCluster"/>).</summary>
public sealed class GatewaySignatureOptions
{
    /// <summary>How far a signature's <c>t</c> may lie from now; default five minutes.</summary>
    public TimeSpan Tolerance { get; init; } = GatewaySignatureVerifier.DefaultTolerance;

    /// <summary>The clock; <see cref="TimeProvider.System"/> when null.</summary>
    public TimeProvider? TimeProvider { get; init; }

    /// <summary>
    /// Remembers the nonces of requests already accepted, so a captured request cannot be replayed within the
    /// tolerance. Null: no replay check. All instances of an upstream must share one (e.g. Redis <c>SET NX EX</c>).
    /// </summary>
    public INonceCache? NonceCache { get; init; }

    /// <summary>
    /// The <c>Host</c> values this upstream answers to. The signature covers the <c>Host</c> the gateway sent; with
    /// this set, a request the gateway sent to another destination of the cluster (replayed with its <c>Host</c>)
    /// is refused. Null or empty: any signed host.
    /// </summary>
    public IReadOnlyCollection<string>? AllowedHosts { get; init; }

    /// <summary>Refuse a request with a body the signature does not cover (longer than the gateway's <c>MaxDigestBytes</c>, or chunked).</summary>
    public bool RequireBodyDigest { get; init; }
}

/// <summary>Where a version 2 verifier records the nonces it has accepted.</summary>
public interface INonceCache
{
    /// <summary>Records <paramref name="nonce"/> until <paramref name="expiresAt"/>.</summary>
    /// <returns>False when the nonce is already recorded: the request is a replay.</returns>
    bool TryAdd(string nonce, DateTimeOffset expiresAt);
}

/// <summary>An in-process <see cref="INonceCache"/>, for an upstream that runs as one process.</summary>
public sealed class MemoryNonceCache(TimeProvider? timeProvider = null) : INonceCache
{
    private readonly TimeProvider _time = timeProvider ?? TimeProvider.System;
    private readonly Dictionary<string, DateTimeOffset> _seen = new(StringComparer.Ordinal);
    private DateTimeOffset _nextSweep = DateTimeOffset.MinValue;

    /// <inheritdoc />
    public bool TryAdd(string nonce, DateTimeOffset expiresAt)
    {
        ArgumentNullException.ThrowIfNull(nonce);
        var now = _time.GetUtcNow();
        lock (_seen)
        {
            if (now >= _nextSweep)
            {
                // Expired entries go at most once a second: the cache holds one tolerance's worth of requests.
                foreach (var (seen, until) in _seen)
                {
                    if (until < now)
                    {
                        _seen.Remove(seen);
                    }
                }

                _nextSweep = now.AddSeconds(1);
            }

            if (_seen.TryGetValue(nonce, out var existing) && existing >= now)
            {
                return false;
            }

            _seen[nonce] = expiresAt;
            return true;
        }
    }
}

/// <summary>The outcome of <see cref="GatewaySignatureVerifier.Verify(string, string, IEnumerable{KeyValuePair{string, string}}, ReadOnlySpan{byte})"/>.</summary>
public enum GatewaySignatureResult
{
    /// <summary>Signed by the gateway with a known key, within the tolerance, over exactly these values.</summary>
    Valid,

    /// <summary>No <c>X-Gateway-Signature</c> header.</summary>
    Missing,

    /// <summary>
    /// The header is not <c>t=…,kid=…</c> with a numeric time and 64 hex digits per MAC, or lacks the member
    /// this verifier checks (<c>v1</c>; <c>v2</c> and <c>n</c> for a cluster verifier).
    /// </summary>
    Malformed,

    /// <summary>The <c>kid</c> is not in the key ring.</summary>
    UnknownKey,

    /// <summary>The signature's time is further from now than the tolerance: a replay or a badly wrong clock.</summary>
    Expired,

    /// <summary>The signature does not match: a covered value was changed, or the key differs (another cluster's, say).</summary>
    Invalid,

    /// <summary>The signature or a covered header occurs more than once: a replay with a header added.</summary>
    DuplicateHeader,

    /// <summary>Version 2: the body is not the one signed (its digest differs, or there is one where the gateway sent none).</summary>
    BodyMismatch,

    /// <summary>Version 2 with <see cref="GatewaySignatureOptions.RequireBodyDigest"/>: the signature does not cover the body.</summary>
    BodyNotSigned,

    /// <summary>Version 2 with <see cref="GatewaySignatureOptions.AllowedHosts"/>: signed for another host.</summary>
    HostNotAllowed,

    /// <summary>Version 2 with a <see cref="GatewaySignatureOptions.NonceCache"/>: this nonce was already accepted.</summary>
    Replayed,
}
