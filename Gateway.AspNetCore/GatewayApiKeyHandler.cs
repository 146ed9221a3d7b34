using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text;
using System.Text.Encodings.Web;
using Gateway.Client;
using Microsoft.AspNetCore.Authentication;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Gateway.AspNetCore;

public static class GatewayApiKeyDefaults
{
    public const string AuthenticationScheme = "GatewayApiKey";
}

/// <summary>Settings of <see cref="GatewayApiKeyHandler"/>.</summary>
public sealed class GatewayApiKeyOptions : AuthenticationSchemeOptions
{
    /// <summary>The gateway's admin listener, e.g. <c>http://gateway:8081/</c>.</summary>
    public Uri? AdminUrl { get; set; }

    /// <summary>An operator token (<c>gwa_…</c>, role <c>verifier</c> is enough) of the keys' organization.</summary>
    public string? Token { get; set; }

    /// <summary>The environment keys must be for; null: the gateway's <c>Gateway:Environment</c>.</summary>
    public string? Environment { get; set; }

    /// <summary>Scopes every key must hold to authenticate at all (per-endpoint scopes: use policies with <c>RequireGatewayScope</c>).</summary>
    public IList<string> RequiredScopes { get; } = [];

    /// <summary>
    /// Charge the gateway's limits for every request, exactly as a proxied request. Charged calls are never
    /// answered from the cache (each request must be counted), so each costs one verify call.
    /// </summary>
    public bool Charge { get; set; }

    /// <summary>Send the connection's remote address as <c>clientIp</c>, so a key's allowed CIDRs apply.</summary>
    public bool SendClientIp { get; set; } = true;

    /// <summary>
    /// How long an answer is reused for the same key (and client address). A key revoked or deactivated on the
    /// gateway is still accepted here for at most this long. Zero turns the cache off.
    /// </summary>
    public TimeSpan CacheDuration { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>The most answers cached; when full the cache is emptied (a flood of distinct keys cannot grow it).</summary>
    public int CacheSize { get; set; } = 10_000;

    /// <summary>
    /// How long one verify call may take before the request fails as if the gateway were unreachable (a gateway that
    /// accepts connections but never answers would otherwise hold each request for HttpClient's 100 s).
    /// </summary>
    public TimeSpan Timeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>For tests or a custom transport: the handler the verify calls go through.</summary>
    public HttpMessageHandler? BackchannelHandler { get; set; }

    public override void Validate()
    {
        base.Validate();
        if (AdminUrl is null || !AdminUrl.IsAbsoluteUri)
        {
            throw new InvalidOperationException("GatewayApiKeyOptions.AdminUrl must be the gateway admin listener's absolute URL.");
        }

        if (string.IsNullOrEmpty(Token))
        {
            throw new InvalidOperationException("GatewayApiKeyOptions.Token must be an operator token of the keys' organization.");
        }

        if (CacheDuration < TimeSpan.Zero)
        {
            throw new InvalidOperationException("GatewayApiKeyOptions.CacheDuration must not be negative.");
        }

        if (Timeout <= TimeSpan.Zero && Timeout != System.Threading.Timeout.InfiniteTimeSpan)
        {
            throw new InvalidOperationException("GatewayApiKeyOptions.Timeout must be positive (or Timeout.InfiniteTimeSpan).");
        }
    }
}

/// <summary>
/// Authenticates <c>Authorization: Bearer &lt;key&gt;</c> through the gateway's <c>POST /v1/keys/verify</c>. A refused key
/// fails with the gateway's code (<c>invalid_key</c>, <c>key_revoked</c>, <c>rate_limited</c>…) as the failure message,
/// also in <c>HttpContext.Items["gateway:code"]</c>. A request without a Bearer header gets no result (another scheme may
/// handle it). The gateway unreachable, not answering within <see cref="GatewayApiKeyOptions.Timeout"/>, or answering
/// something that is not a verify answer is a failure, never a pass.
/// </summary>
public sealed partial class GatewayApiKeyHandler(
    IOptionsMonitor<GatewayApiKeyOptions> options,
    ILoggerFactory logger,
    UrlEncoder encoder,
    GatewayVerifyClients clients) : AuthenticationHandler<GatewayApiKeyOptions>(options, logger, encoder)
{
    public const string CodeItem = "gateway:code";

    protected override async Task<AuthenticateResult> HandleAuthenticateAsync()
    {
        string? header = Request.Headers.Authorization;
        if (header is null || !header.StartsWith("Bearer ", StringComparison.Ordinal) || header.Length == "Bearer ".Length)
        {
            return AuthenticateResult.NoResult();
        }

        var key = header["Bearer ".Length..];
        var clientIp = Options.SendClientIp ? Context.Connection.RemoteIpAddress?.ToString() : null;
        var entry = clients.For(Scheme.Name, Options);
        VerifyKeyResult result;

        // Per call rather than HttpClient.Timeout: the client is shared by every request of the scheme.
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(Context.RequestAborted);
        timeout.CancelAfter(Options.Timeout);
        try
        {
            result = await entry.VerifyAsync(key, clientIp, Options, timeout.Token);
        }
        catch (Exception ex) when (ex is HttpRequestException or GatewayApiException or OperationCanceledException)
        {
            // GatewayApiException includes a 200 that is not the verify answer (a wrong AdminUrl, a captive proxy's page).
            Unreachable(Logger, ex);
            Context.Items[CodeItem] = "store_unavailable";
            return AuthenticateResult.Fail("The gateway could not verify the key.");
        }

        if (!result.Valid || result.KeyId is null || result.OrgId is null)
        {
            Context.Items[CodeItem] = result.Code ?? "invalid_key";
            return AuthenticateResult.Fail(result.Code ?? "invalid_key");
        }

        var principal = GatewayPrincipal.Create(Scheme.Name, result.OrgId, result.KeyId, result.Name, result.Scopes ?? [], result.CustomerId, result.Environment);
        return AuthenticateResult.Success(new AuthenticationTicket(principal, Scheme.Name));
    }

    protected override Task HandleChallengeAsync(AuthenticationProperties properties)
    {
        Response.StatusCode = Microsoft.AspNetCore.Http.StatusCodes.Status401Unauthorized;
        Response.Headers.WWWAuthenticate = Context.Items.ContainsKey(CodeItem) ? "Bearer error=\"invalid_token\"" : "Bearer";
        return Task.CompletedTask;
    }

    [LoggerMessage(EventId = 1, Level = LogLevel.Warning, Message = "The gateway's verify API could not be reached; the request is not authenticated.")]
    private static partial void Unreachable(ILogger logger, Exception exception);
}

/// <summary>One verify client and answer cache per scheme, shared by the handler's per-request instances.</summary>
public sealed class GatewayVerifyClients(TimeProvider time)
{
    private readonly ConcurrentDictionary<string, Entry> _entries = new(StringComparer.Ordinal);

    internal Entry For(string scheme, GatewayApiKeyOptions options) => _entries.GetOrAdd(scheme, _ => new Entry(options, time));

    internal sealed class Entry(GatewayApiKeyOptions options, TimeProvider time)
    {
        private readonly GatewayClient _client = GatewayClient.Create(options.AdminUrl!, options.Token!, options.BackchannelHandler);
        private readonly ConcurrentDictionary<string, (VerifyKeyResult Result, DateTimeOffset Until)> _cache = new(StringComparer.Ordinal);

        public async Task<VerifyKeyResult> VerifyAsync(string key, string? clientIp, GatewayApiKeyOptions current, CancellationToken cancellationToken)
        {
            // Cached by a digest, never by the key itself, so a heap dump of the service holds no keys.
            var cacheKey = Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(key))) + "|" + clientIp;
            var now = time.GetUtcNow();
            var cacheable = !current.Charge && current.CacheDuration > TimeSpan.Zero;
            if (cacheable && _cache.TryGetValue(cacheKey, out var hit) && hit.Until > now)
            {
                return hit.Result;
            }

            var request = new VerifyKeyRequest(key)
            {
                Environment = current.Environment,
                Scopes = current.RequiredScopes.Count == 0 ? null : [.. current.RequiredScopes],
                Charge = current.Charge ? true : null,
                ClientIp = clientIp,
            };
            var result = await _client.VerifyKeyAsync(request, cancellationToken).ConfigureAwait(false);

            // A refusal that passes by itself (a used-up limit, a store outage) is asked again next time.
            if (cacheable && result.Code is not ("rate_limited" or "store_unavailable"))
            {
                if (_cache.Count >= current.CacheSize)
                {
                    _cache.Clear();
                }

                _cache[cacheKey] = (result, now + current.CacheDuration);
            }

            return result;
        }
    }
}
