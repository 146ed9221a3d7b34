using System.Text.Encodings.Web;
using Gateway.Verification;
using Microsoft.AspNetCore.Authentication;
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

    public override void Validate()
    {
        base.Validate();
        if (Verifier is null && Secrets.Count == 0)
        {
            throw new InvalidOperationException("GatewaySignedHeadersOptions needs Secrets (the gateway's Gateway:Signing:Secrets) or a Verifier.");
        }
    }
}

/// <summary>
/// For services behind the proxy: trusts <c>X-Org-Id</c>, <c>X-Key-*</c> and <c>X-Customer-Id</c> only when
/// <c>X-Gateway-Signature</c> verifies over them (Gateway.Verification), and builds the same principal as
/// <see cref="GatewayApiKeyHandler"/>. Unsigned requests get no result; a bad signature fails.
/// </summary>
/// <remarks>Version 2 signatures that cover a body need the body: use a verifier without RequireBodyDigest, or check the body yourself.</remarks>
public sealed class GatewaySignedHeadersHandler(
    IOptionsMonitor<GatewaySignedHeadersOptions> options,
    ILoggerFactory logger,
    UrlEncoder encoder,
    TimeProvider time) : AuthenticationHandler<GatewaySignedHeadersOptions>(options, logger, encoder)
{
    protected override Task<AuthenticateResult> HandleAuthenticateAsync()
    {
        if (!Request.Headers.ContainsKey(GatewaySignature.HeaderName))
        {
            return Task.FromResult(AuthenticateResult.NoResult());
        }

        var verifier = Options.Verifier ?? new GatewaySignatureVerifier(new Dictionary<string, string>(Options.Secrets), Options.Tolerance, time);
        var target = Context.Features.Get<IHttpRequestFeature>()?.RawTarget ?? (Request.Path + Request.QueryString).ToString();
        var headers = Request.Headers.SelectMany(h => h.Value.Select(v => new KeyValuePair<string, string>(h.Key, v ?? "")));
        var outcome = verifier.Verify(Request.Method, target, headers);
        if (outcome != GatewaySignatureResult.Valid)
        {
            return Task.FromResult(AuthenticateResult.Fail($"X-Gateway-Signature: {outcome}."));
        }

        string? Header(string name) => Request.Headers[name] is { Count: 1 } value ? value[0] : null;
        var org = Header("X-Org-Id");
        var keyId = Header("X-Key-Id");
        if (string.IsNullOrEmpty(org) || string.IsNullOrEmpty(keyId))
        {
            // Signed, but an anonymous route: no key to make a principal of.
            return Task.FromResult(AuthenticateResult.NoResult());
        }

        var scopes = (Header("X-Key-Scopes") ?? "").Split(' ', StringSplitOptions.RemoveEmptyEntries);
        var principal = GatewayPrincipal.Create(Scheme.Name, org, keyId, Header("X-Key-Name"), scopes, Header("X-Customer-Id"), Header("X-Key-Environment"));
        return Task.FromResult(AuthenticateResult.Success(new AuthenticationTicket(principal, Scheme.Name)));
    }
}
