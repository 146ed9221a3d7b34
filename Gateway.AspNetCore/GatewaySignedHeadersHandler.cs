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
/// A request with a <c>Content-Digest</c> (a version 2 signature covering the body) has its body read, at most
/// <see cref="GatewaySignedHeadersOptions.MaxDigestBytes"/>, and checked against it; the body is buffered, so the
/// endpoint still reads it from the start.
/// </remarks>
public sealed class GatewaySignedHeadersHandler(
    IOptionsMonitor<GatewaySignedHeadersOptions> options,
    ILoggerFactory logger,
    UrlEncoder encoder,
    TimeProvider time) : AuthenticationHandler<GatewaySignedHeadersOptions>(options, logger, encoder)
{
    protected override async Task<AuthenticateResult> HandleAuthenticateAsync()
    {
        if (!Request.Headers.ContainsKey(GatewaySignature.HeaderName))
        {
            return AuthenticateResult.NoResult();
        }

        var verifier = Options.Verifier ?? new GatewaySignatureVerifier(new Dictionary<string, string>(Options.Secrets), Options.Tolerance, time);
        var target = Context.Features.Get<IHttpRequestFeature>()?.RawTarget ?? (Request.Path + Request.QueryString).ToString();
        var headers = Request.Headers.SelectMany(h => h.Value.Select(v => new KeyValuePair<string, string>(h.Key, v ?? ""))).ToList();

        // Only a version 2 signature with a digest covers the body; any other request is verified without reading it, so
        // a large or streamed upload is not buffered for nothing.
        byte[] body = [];
        if (verifier.Version == 2 && Request.Headers.ContainsKey(GatewaySignature.ContentDigestHeaderName))
        {
            if (await ReadBodyAsync(Options.MaxDigestBytes) is not { } read)
            {
                return AuthenticateResult.Fail($"X-Gateway-Signature: the body is over MaxDigestBytes ({Options.MaxDigestBytes}), which the gateway never covers.");
            }

            body = read;
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
