using System.Text.Encodings.Web;
using Gateway.Verification;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Gateway.AspNetCore;

public static class GatewaySignedHeadersDefaults
{
    public const string AuthenticationScheme = "GatewaySignedHeaders";
}

/// <summary>Settings of <see cref="GatewaySignedHeadersHandler"/>.</summary>
public sealed class GatewaySignedHeadersOptions : AuthenticationSchemeOptions
{
    /// <summary>The gateway's <c>Gateway:Signing:Secrets</c>: key id → secret (version 1 signatures).</summary>
    public IDictionary<string, string> Secrets { get; } = new Dictionary<string, string>(StringComparer.Ordinal);

    /// <summary>Instead of <see cref="Secrets"/>: a configured verifier (a cluster's version 2 keys, a nonce cache…).</summary>
    public GatewaySignatureVerifier? Verifier { get; set; }

    /// <summary>How far the signature's time may be from now.</summary>
    public TimeSpan Tolerance { get; set; } = GatewaySignatureVerifier.DefaultTolerance;

    /// <summary>
    /// The largest body read to check a version 2 <c>Content-Digest</c>: the gateway's <c>Gateway:Signing:MaxDigestBytes</c>
    /// (it covers no larger body). A request claiming a digest over a larger body fails.
    /// </summary>
    public long MaxDigestBytes { get; set; } = 65_536;

    public override void Validate()
    {
        base.Validate();
        if (Verifier is null && Secrets.Count == 0)
        {
            throw new InvalidOperationException("GatewaySignedHeadersOptions needs Secrets (the gateway's Gateway:Signing:Secrets) or a Verifier.");
        }

        // The gateway's own bound on Gateway:Signing:MaxDigestBytes.
        if (MaxDigestBytes is < 0 or > 16 * 1024 * 1024)
        {
            throw new InvalidOperationException("GatewaySignedHeadersOptions.MaxDigestBytes must be between 0 and 16777216, like the gateway's.");
        }
    }
}

/// <summary>
/// For services behind the proxy: trusts <c>X-Org-Id</c>, <c>X-Key-*</c> and <c>X-Customer-Id</c> only when
/// <c>X-Gateway-Signature</c> verifies over them (Gateway.Verification), and builds the same principal as
/// <see cref="GatewayApiKeyHandler"/>. Unsigned requests get no result; a bad signature fails.
/// </summary>
/// <remarks>
/// With a version 2 verifier, a request with a <c>Content-Digest</c> (in any spelling the verifier accepts) has its
/// body read, at most <see cref="GatewaySignedHeadersOptions.MaxDigestBytes"/>, and checked against it; the body is
/// buffered, so the endpoint still reads it from the start. A request without one whose framing allows a body has
/// its first bytes read, so a body added to a request signed without one is refused; they are put back for the endpoint.
/// </remarks>
public sealed class GatewaySignedHeadersHandler(
    IOptionsMonitor<GatewaySignedHeadersOptions> options,
    ILoggerFactory logger,
    UrlEncoder encoder,
    TimeProvider time) : AuthenticationHandler<GatewaySignedHeadersOptions>(options, logger, encoder)
{
    private static readonly string ContentDigestName = GatewaySignature.NormalizeName(GatewaySignature.ContentDigestHeaderName);

    protected override async Task<AuthenticateResult> HandleAuthenticateAsync()
    {
        if (!Request.Headers.ContainsKey(GatewaySignature.HeaderName))
        {
            return AuthenticateResult.NoResult();
        }

        var verifier = Options.Verifier ?? new GatewaySignatureVerifier(new Dictionary<string, string>(Options.Secrets), Options.Tolerance, time);
        var target = Context.Features.Get<IHttpRequestFeature>()?.RawTarget ?? (Request.Path + Request.QueryString).ToString();
        var headers = Request.Headers.SelectMany(h => h.Value.Select(v => new KeyValuePair<string, string>(h.Key, v ?? ""))).ToList();

        // Version 2 binds the body too, so the verifier must see what is there: a digested body in full, any other
        // only as far as telling it is not empty (the content line is then "none", which allows no body, or
        // "unsigned", which covers none), so a large or streamed upload is not buffered for nothing. Whether a body
        // is there comes from the request's framing, never from a header an attacker can leave out or misspell.
        byte[] body = [];
        if (verifier.Version == 2)
        {
            if (HasContentDigest())
            {
                if (await ReadBodyAsync(Options.MaxDigestBytes) is not { } read)
                {
                    return AuthenticateResult.Fail($"X-Gateway-Signature: the body is over MaxDigestBytes ({Options.MaxDigestBytes}), which the gateway never covers.");
                }

                body = read;
            }
            else if (MayHaveBody())
            {
                body = await ReadBodyStartAsync();
            }
        }

        var outcome = verifier.Verify(Request.Method, target, headers, body);
        if (outcome != GatewaySignatureResult.Valid)
        {
            return AuthenticateResult.Fail($"X-Gateway-Signature: {outcome}.");
        }

        string? Header(string name) => Request.Headers[name] is { Count: 1 } value ? value[0] : null;
        var org = Header("X-Org-Id");
        var keyId = Header("X-Key-Id");
        if (string.IsNullOrEmpty(org) || string.IsNullOrEmpty(keyId))
        {
            // Signed, but an anonymous route: no key to make a principal of.
            return AuthenticateResult.NoResult();
        }

        var scopes = (Header("X-Key-Scopes") ?? "").Split(' ', StringSplitOptions.RemoveEmptyEntries);
        var principal = GatewayPrincipal.Create(Scheme.Name, org, keyId, Header("X-Key-Name"), scopes, Header("X-Customer-Id"), Header("X-Key-Environment"));
        return AuthenticateResult.Success(new AuthenticationTicket(principal, Scheme.Name));
    }

    // Found as the verifier finds it (any letter case, "_" for "-"): a spelling this handler missed would have the
    // verifier check the digest against a body never read.
    private bool HasContentDigest()
    {
        foreach (var name in Request.Headers.Keys)
        {
            if (name.Length == ContentDigestName.Length && GatewaySignature.NormalizeName(name) == ContentDigestName)
            {
                return true;
            }
        }

        return false;
    }

    // Any framing that can carry a body: a length, chunked, or (HTTP/2 and 3) a stream the client did not end with its headers.
    private bool MayHaveBody() =>
        Request.ContentLength > 0
        || Request.Headers.TransferEncoding.Count > 0
        || Context.Features.Get<IHttpRequestBodyDetectionFeature>()?.CanHaveBody == true;

    /// <summary>
    /// The body's first bytes (empty when it has none), put back in front of the rest so the endpoint reads it all.
    /// Without a digest the verifier only needs to know whether there is a body.
    /// </summary>
    private async Task<byte[]> ReadBodyStartAsync()
    {
        var start = new byte[4096];
        var read = await Request.Body.ReadAsync(start, Context.RequestAborted);
        if (read == 0)
        {
            return [];
        }

        Array.Resize(ref start, read);
        Request.Body = new PrefixedStream(start, Request.Body);
        return start;
    }

    /// <summary>The whole body, or null when it is longer than <paramref name="limit"/>; the request can read it again afterwards.</summary>
    private async Task<byte[]?> ReadBodyAsync(long limit)
    {
        if (Request.ContentLength > limit)
        {
            return null;
        }

        Request.EnableBuffering();
        using var buffer = new MemoryStream();
        var chunk = new byte[8192];
        int read;
        while ((read = await Request.Body.ReadAsync(chunk, Context.RequestAborted)) > 0)
        {
            if (buffer.Length + read > limit)
            {
                Request.Body.Position = 0;
                return null;
            }

            buffer.Write(chunk, 0, read);
        }

        Request.Body.Position = 0;
        return buffer.ToArray();
    }
}
