using Gateway.Admin;
using Gateway.Configuration;
using Gateway.Stores;
using Microsoft.AspNetCore.Authentication.Cookies;
using Microsoft.AspNetCore.Authentication.OpenIdConnect;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;
using Microsoft.IdentityModel.Tokens;

namespace Gateway.AdminSessions;

internal static partial class AdminSessionsServiceCollectionExtensions
{
    private static readonly string[] BaseScopes = ["openid", "profile", "email"];

    /// <summary>
    /// The ID token signatures accepted: asymmetric ones, checked with the provider's published keys. Not <c>none</c>,
    /// and not HS256 and kin, whose key would be the client secret: whoever holds the secret could sign any claims.
    /// </summary>
    internal static readonly string[] SignatureAlgorithms =
    [
        SecurityAlgorithms.RsaSha256, SecurityAlgorithms.RsaSha384, SecurityAlgorithms.RsaSha512,
        SecurityAlgorithms.RsaSsaPssSha256, SecurityAlgorithms.RsaSsaPssSha384, SecurityAlgorithms.RsaSsaPssSha512,
        SecurityAlgorithms.EcdsaSha256, SecurityAlgorithms.EcdsaSha384, SecurityAlgorithms.EcdsaSha512,
    ];

    /// <summary>
    /// Console sessions: Data Protection keys shared through the store and protected at rest (always: the keys protect
    /// the session and sign-in cookies), <c>/admin/auth/*</c>, and, when <c>Gateway:Admin:Oidc:Authority</c> is set,
    /// the OpenID Connect sign-in, the session cookie and its CSRF check. Call before <c>AddGatewayAdmin</c>, whose
    /// default knows no sessions.
    /// </summary>
    public static IServiceCollection AddGatewayAdminSessions(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddGatewaySettings<AdminOidcOptions>(configuration, AdminOidcOptions.SectionName);
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<AdminOidcOptions>, AdminOidcOptionsValidator>());
        services.AddGatewayDataProtection();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IAdminPublicApi, AdminSignInEndpoints>());
        services.ConfigureHttpJsonOptions(options => options.SerializerOptions.TypeInfoResolverChain.Insert(0, AdminSessionsJsonContext.Default));

        // Decided once at start, like the store kind: no scheme, no cookie is ever accepted.
        if (!(configuration.GetSection(AdminOidcOptions.SectionName).Get<AdminOidcOptions>()?.Enabled ?? false))
        {
            return services;
        }

        services.TryAddFeatureStore<IEndedSessionStore, SqliteEndedSessionStore, RedisEndedSessionStore>();
        services.TryAddSingleton<AdminSessionAuthenticator>();
        services.TryAddSingleton<IAdminSessionAuthenticator>(sp => sp.GetRequiredService<AdminSessionAuthenticator>());
        services.TryAddSingleton<IAdminCsrfTokens>(sp => sp.GetRequiredService<AdminSessionAuthenticator>());
        services.AddAuthentication()
            .AddCookie(AdminSessionSchemes.Cookie)
            .AddOpenIdConnect(AdminSessionSchemes.Oidc, _ => { });
        services.AddOptions<CookieAuthenticationOptions>(AdminSessionSchemes.Cookie).Configure<IOptions<AdminOidcOptions>>((cookie, oidc) => ConfigureCookie(cookie, oidc.Value));
        services.AddOptions<OpenIdConnectOptions>(AdminSessionSchemes.Oidc).Configure<IOptions<AdminOidcOptions>>((o, oidc) => ConfigureOidc(o, oidc.Value));
        return services;
    }

    private static void ConfigureCookie(CookieAuthenticationOptions cookie, AdminOidcOptions oidc)
    {
        cookie.Cookie.Name = AdminSessionSchemes.CookieName;
        cookie.CookieManager = new HostPrefixCookieManager();
        cookie.Cookie.HttpOnly = true;
        cookie.Cookie.Path = "/";
        cookie.Cookie.SecurePolicy = CookieSecurePolicy.SameAsRequest;

        // Strict: the browser never sends it with a request another site starts. The console's own calls are same-origin;
        // only the landing navigation from the identity provider goes without it, and that page is static.
        cookie.Cookie.SameSite = SameSiteMode.Strict;
        cookie.ExpireTimeSpan = oidc.IdleTimeout;
        cookie.SlidingExpiration = true;
        cookie.Events = new CookieAuthenticationEvents
        {
            // Sliding renews the ticket's own times; the sign-in time in the claims caps the whole session.
            OnValidatePrincipal = async context =>
            {
                var services = context.HttpContext.RequestServices;
                var now = services.GetRequiredService<TimeProvider>().GetUtcNow();
                if (AdminSessionClaims.SignedIn(context.Principal) is not { } at || now - at >= oidc.SessionLifetime)
                {
                    context.RejectPrincipal();
                    return;
                }

                // Signed out: a copy of the cookie taken before is refused on every instance. While the store does not
                // answer the session stands; every admin call that needs the store answers 503 meanwhile anyway.
                if (AdminSessionClaims.CsrfToken(context.Principal) is { } csrf)
                {
                    try
                    {
                        if (await services.GetRequiredService<IEndedSessionStore>().IsEndedAsync(EndedSessions.SessionId(csrf), now, context.HttpContext.RequestAborted))
                        {
                            context.RejectPrincipal();
                        }
                    }
                    catch (Exception ex) when (StoreResilience.IsUnavailable(ex))
                    {
                    }
                }
            },

            // Never a redirect to a login page: the admin API answers 401 problem+json itself.
            OnRedirectToLogin = context =>
            {
                context.Response.StatusCode = StatusCodes.Status401Unauthorized;
                return Task.CompletedTask;
            },
            OnRedirectToAccessDenied = context =>
            {
                context.Response.StatusCode = StatusCodes.Status403Forbidden;
                return Task.CompletedTask;
            },
        };
    }

    private static void ConfigureOidc(OpenIdConnectOptions o, AdminOidcOptions oidc)
    {
        o.Authority = oidc.Authority;
        o.ClientId = oidc.ClientId;
        o.ClientSecret = string.IsNullOrEmpty(oidc.ClientSecret) ? null : oidc.ClientSecret;
        o.RequireHttpsMetadata = oidc.RequireHttpsMetadata;
        o.ResponseType = "code";
        o.UsePkce = true;

        // The code comes back in the query of a top-level GET, which carries SameSite=Lax cookies; a form_post
        // from the provider's site would need the correlation cookie to be SameSite=None.
        o.ResponseMode = "query";
        o.CallbackPath = AdminSessionSchemes.CallbackPath;
        o.SignInScheme = AdminSessionSchemes.Cookie;
        o.MapInboundClaims = false;
        o.SaveTokens = false;
        o.GetClaimsFromUserInfoEndpoint = false;
        o.DisableTelemetry = true;
        o.BackchannelTimeout = TimeSpan.FromSeconds(15);
        o.Scope.Clear();
        foreach (var scope in BaseScopes.Concat(oidc.Scopes).Distinct(StringComparer.Ordinal))
        {
            o.Scope.Add(scope);
        }

        o.TokenValidationParameters.ValidAudience = oidc.ClientId;
        o.TokenValidationParameters.RequireSignedTokens = true;
        o.TokenValidationParameters.ValidAlgorithms = SignatureAlgorithms;
        o.TokenValidationParameters.NameClaimType = "name";
        o.CorrelationCookie.SameSite = SameSiteMode.Lax;
        o.CorrelationCookie.SecurePolicy = CookieSecurePolicy.SameAsRequest;
        o.NonceCookie.SameSite = SameSiteMode.Lax;
        o.NonceCookie.SecurePolicy = CookieSecurePolicy.SameAsRequest;
        o.Events = new OpenIdConnectEvents
        {
            OnTokenValidated = context =>
            {
                // The handler validates the token endpoint's ID token with RequireSignedTokens switched off (OpenID
                // Connect lets a client trust that TLS channel instead, dotnet/aspnetcore#37549), so an unsigned
                // token would pass. The gateway promises a signature checked against the provider's keys.
                if (!SignedAsymmetrically(context.SecurityToken))
                {
                    context.Fail(new SecurityTokenInvalidSignatureException("The ID token is not signed with an asymmetric algorithm."));
                    return Task.CompletedTask;
                }

                var services = context.HttpContext.RequestServices;
                var now = services.GetRequiredService<TimeProvider>().GetUtcNow();
                var (identity, refusal) = AdminSessionClaims.FromIdToken(context.Principal!, oidc, now);
                if (identity is null)
                {
                    context.Fail(new SignInRefusedException(refusal!));
                    return Task.CompletedTask;
                }

                context.Principal = new System.Security.Claims.ClaimsPrincipal(identity);

                // A session cookie (no Expires): closing the browser ends it too.
                context.Properties!.IsPersistent = false;
                Log.SignedIn(Logger(services), identity);
                return Task.CompletedTask;
            },
            OnRemoteFailure = context =>
            {
                var (status, reason) = Describe(context.Failure);
                Log.Refused(Logger(context.HttpContext.RequestServices), status, reason);
                context.HandleResponse();
                return SignInRefusalPage.WriteAsync(context.HttpContext, status, reason);
            },
            OnAccessDenied = context =>
            {
                const string reason = "The identity provider did not let you sign in to the gateway.";
                Log.Refused(Logger(context.HttpContext.RequestServices), StatusCodes.Status403Forbidden, reason);
                context.HandleResponse();
                return SignInRefusalPage.WriteAsync(context.HttpContext, StatusCodes.Status403Forbidden, reason);
            },
        };
    }

    /// <summary>
    /// Whether the validated ID token carries a signature of an accepted algorithm; the handler has checked any
    /// signature the token has against the provider's keys and <see cref="SignatureAlgorithms"/>, but not that it has one.
    /// </summary>
    internal static bool SignedAsymmetrically(System.IdentityModel.Tokens.Jwt.JwtSecurityToken? token) =>
        token is { RawSignature.Length: > 0 } && SignatureAlgorithms.Contains(token.Header.Alg, StringComparer.Ordinal);

    /// <summary>A status and a sentence for each way a sign-in fails; never the exception's own text, which may quote the token.</summary>
    internal static (int Status, string Reason) Describe(Exception? failure)
    {
        for (var e = failure; e is not null; e = e.InnerException)
        {
            switch (e)
            {
                case SignInRefusedException refused:
                    return (StatusCodes.Status403Forbidden, refused.Message);
                case SecurityTokenExpiredException:
                    return (StatusCodes.Status401Unauthorized, "The identity provider's token has expired. Sign in again; if this repeats, check the clocks of the gateway and the provider.");
                case SecurityTokenInvalidAudienceException:
                    return (StatusCodes.Status401Unauthorized, "The identity provider's token was issued for another application (its audience is not this gateway's client id).");
                case SecurityTokenInvalidIssuerException:
                    return (StatusCodes.Status401Unauthorized, "The identity provider's token comes from another issuer than the configured authority.");
                case SecurityTokenSignatureKeyNotFoundException or SecurityTokenInvalidSignatureException:
                    return (StatusCodes.Status401Unauthorized, "The identity provider's token signature is not valid.");
                case SecurityTokenException:
                    return (StatusCodes.Status401Unauthorized, "The identity provider's token is not valid.");
            }
        }

        return (StatusCodes.Status400BadRequest, "The sign-in could not be completed (it may have expired or been started in another browser). Start again from the console.");
    }

    private static ILogger Logger(IServiceProvider services) => services.GetRequiredService<ILoggerFactory>().CreateLogger("Gateway.AdminSessions");

    private static partial class Log
    {
        public static void SignedIn(ILogger logger, System.Security.Claims.ClaimsIdentity identity)
        {
            if (logger.IsEnabled(LogLevel.Information))
            {
                var role = identity.FindFirst(AdminSessionClaims.Role)!.Value;
                var org = identity.FindFirst(AdminSessionClaims.Org)!.Value;
                SignedIn(logger, identity.Name!, role, org);
            }
        }

        [LoggerMessage(EventId = Observability.EventIds.AdminSignedIn, Level = LogLevel.Information, Message = "Console sign-in of {Name} with role {Role} for organization {Org}.")]
        private static partial void SignedIn(ILogger logger, string name, string role, string org);

        [LoggerMessage(EventId = Observability.EventIds.AdminSignInRefused, Level = LogLevel.Warning, Message = "Console sign-in refused ({Status}): {Reason}")]
        public static partial void Refused(ILogger logger, int status, string reason);
    }
}

/// <summary>A sign-in the gateway refuses after the provider accepted it (the claims do not give a role and organization).</summary>
internal sealed class SignInRefusedException(string message) : Exception(message);
