using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;

namespace Gateway.Tests.AdminSessions;

/// <summary>
/// A small OpenID Connect provider on a real socket: discovery, JWKS, an authorize endpoint that signs the user in at
/// once (redirecting back with a code) and a token endpoint that checks the client, the redirect URI and the PKCE
/// verifier and answers an RS256 ID token. Served as http://localhost:port, another site than the gateway's
/// 127.0.0.1, so the browser treats the round trip as cross-site like a real provider's.
/// </summary>
public sealed class TestIdentityProvider : IAsyncDisposable
{
    public const string ClientId = "gateway-console";
    public const string ClientSecret = "idp-client-secret-5d1b7c0e9a";
    private const string KeyId = "test-key-1";

    private readonly WebApplication _app;
    private readonly RSA _signing = RSA.Create(2048);
    private readonly RSA _other = RSA.Create(2048);
    private readonly ConcurrentDictionary<string, (string Nonce, string Challenge, string RedirectUri)> _codes = new();

    private TestIdentityProvider(WebApplication app, int port)
    {
        _app = app;
        Authority = $"http://localhost:{port}";
    }

    public string Authority { get; }

    /// <summary>The claims of the next ID tokens besides iss, sub, aud, nonce and times.</summary>
    public Dictionary<string, object> Claims { get; } = new()
    {
        ["name"] = "Ada Lovelace",
        ["email"] = "ada@example.com",
        ["gateway_role"] = "admin",
        ["gateway_org"] = "acme",
    };

    public string Subject { get; set; } = "user-ada";

    /// <summary>Null: the client id.</summary>
    public string? Audience { get; set; }

    /// <summary>Negative: an ID token that expired that long ago.</summary>
    public TimeSpan Lifetime { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>Sign with a key the JWKS does not hold (under the published key id).</summary>
    public bool SignWithOtherKey { get; set; }

    /// <summary>An unsigned ID token: header <c>{"alg":"none","typ":"JWT"}</c> and an empty signature.</summary>
    public bool SendUnsignedToken { get; set; }

    /// <summary>An HS256 ID token keyed with the client secret (padded to the 256 bits IdentityModel requires), which the gateway also knows.</summary>
    public bool SignWithClientSecret { get; set; }

    private int _tokensIssued;

    public int TokensIssued => _tokensIssued;

    public string? LastChallengeMethod { get; private set; }

    public static async Task<TestIdentityProvider> StartAsync()
    {
        var port = FreePort();
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(k => k.ListenLocalhost(port));
        var app = builder.Build();
        var idp = new TestIdentityProvider(app, port);
        idp.Map(app);
        await app.StartAsync();
        return idp;
    }

    public async ValueTask DisposeAsync()
    {
        await _app.DisposeAsync();
        _signing.Dispose();
        _other.Dispose();
    }

    private static int FreePort()
    {
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        socket.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        return ((IPEndPoint)socket.LocalEndPoint!).Port;
    }

    private void Map(WebApplication app)
    {
        app.MapGet("/.well-known/openid-configuration", () => Results.Json(new Dictionary<string, object>
        {
            ["issuer"] = Authority,
            ["authorization_endpoint"] = Authority + "/authorize",
            ["token_endpoint"] = Authority + "/token",
            ["jwks_uri"] = Authority + "/jwks",
            ["response_types_supported"] = new[] { "code" },
            ["subject_types_supported"] = new[] { "public" },
            ["id_token_signing_alg_values_supported"] = new[] { "RS256" },
            ["code_challenge_methods_supported"] = new[] { "S256" },
            ["token_endpoint_auth_methods_supported"] = new[] { "client_secret_post" },
        }));

        app.MapGet("/jwks", () =>
        {
            var p = _signing.ExportParameters(false);
            return Results.Json(new
            {
                keys = new[] { new { kty = "RSA", use = "sig", alg = "RS256", kid = KeyId, n = Base64UrlEncoder.Encode(p.Modulus), e = Base64UrlEncoder.Encode(p.Exponent) } },
            });
        });

        app.MapGet("/authorize", (HttpRequest request) =>
        {
            var q = request.Query;
            if (q["client_id"] != ClientId || q["response_type"] != "code" || string.IsNullOrEmpty(q["code_challenge"]) || string.IsNullOrEmpty(q["state"]))
            {
                return Results.BadRequest("bad authorize request");
            }

            LastChallengeMethod = q["code_challenge_method"];
            var code = Convert.ToHexString(RandomNumberGenerator.GetBytes(16));
            _codes[code] = (q["nonce"].ToString(), q["code_challenge"].ToString(), q["redirect_uri"].ToString());
            return Results.Redirect($"{q["redirect_uri"]}?code={code}&state={Uri.EscapeDataString(q["state"].ToString())}");
        });

        app.MapPost("/token", async (HttpRequest request) =>
        {
            var form = await request.ReadFormAsync();
            if (form["grant_type"] != "authorization_code" || form["client_id"] != ClientId || form["client_secret"] != ClientSecret
                || !_codes.TryRemove(form["code"].ToString(), out var grant) || form["redirect_uri"] != grant.RedirectUri
                || Base64UrlEncoder.Encode(SHA256.HashData(Encoding.ASCII.GetBytes(form["code_verifier"].ToString()))) != grant.Challenge)
            {
                return Results.Json(new { error = "invalid_grant" }, statusCode: 400);
            }

            Interlocked.Increment(ref _tokensIssued);
            return Results.Json(new { access_token = "at-" + Guid.NewGuid().ToString("N"), token_type = "Bearer", expires_in = 300, id_token = IdToken(grant.Nonce) });
        });
    }

    private string IdToken(string nonce)
    {
        var now = DateTime.UtcNow;
        var claims = new Dictionary<string, object>(Claims) { ["sub"] = Subject, ["nonce"] = nonce };
        var issued = Lifetime > TimeSpan.Zero ? now : now + Lifetime - TimeSpan.FromMinutes(5);
        var key = new RsaSecurityKey(SignWithOtherKey ? _other : _signing) { KeyId = KeyId };
        var credentials = SendUnsignedToken ? null
            : SignWithClientSecret ? new SigningCredentials(new SymmetricSecurityKey(Encoding.UTF8.GetBytes(ClientSecret.PadRight(32, '0'))), SecurityAlgorithms.HmacSha256)
            : new SigningCredentials(key, SecurityAlgorithms.RsaSha256);
        return new JsonWebTokenHandler { SetDefaultTimesOnTokenCreation = false }.CreateToken(new SecurityTokenDescriptor
        {
            Issuer = Authority,
            Audience = Audience ?? ClientId,
            Claims = claims,
            IssuedAt = issued,
            NotBefore = issued,
            Expires = now + Lifetime,
            SigningCredentials = credentials,
        });
    }
}
