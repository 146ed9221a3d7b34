using System.Text.Json;
using System.Text.Json.Serialization;
using Gateway.Admin;
using Gateway.Domain;
using Gateway.Stores;
using Gateway.Observability;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authentication.OpenIdConnect;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Extensions.Options;

namespace Gateway.AdminSessions;

/// <summary>
/// <c>/admin/auth/*</c>: which sign-ins exist, the OpenID Connect sign-in and its callback, and sign-out. None needs an
/// admin token; the sign-in's safety lies in the provider's checks (state, nonce, PKCE, signature, audience, expiry) and
/// in the local-only return address.
/// </summary>
internal sealed partial class AdminSignInEndpoints : IAdminPublicApi
{
    /// <summary>Where the console lives; a sign-in returns only there.</summary>
    private static readonly string[] ReturnPrefixes = ["/console"];

    private const string DefaultReturnUrl = "/console/";

    public void Map(RouteGroupBuilder admin)
    {
        var auth = admin.MapGroup("/auth").WithTags("Sign-in");
        auth.MapGet("/providers", Providers).WithName("GetAuthProviders");
        auth.MapGet("/oidc/login", LoginAsync).WithName("OidcLogin")
            .Produces(StatusCodes.Status302Found)
            .Produces(StatusCodes.Status503ServiceUnavailable, contentType: "text/html")
            .ProducesAdminProblem(StatusCodes.Status400BadRequest, StatusCodes.Status404NotFound);
        auth.MapPost("/signout", SignOutAsync).WithName("SignOut")
            .ProducesAdminProblem(StatusCodes.Status403Forbidden);

        // Handled by the OpenID Connect handler (there is no authentication middleware in the pipeline); a browser
        // arrives here from the provider, so it is no API operation.
        auth.MapGet("/oidc/callback", CallbackAsync).ExcludeFromDescription();
    }

    private static Ok<AuthProvidersDto> Providers(IOptions<AdminOidcOptions> oidc) => TypedResults.Ok(new AuthProvidersDto(oidc.Value.Enabled));

    private static async Task<Results<ChallengeHttpResult, AdminProblem, SignInPageResult>> LoginAsync(string? returnUrl, HttpContext context, IOptions<AdminOidcOptions> oidc, ILogger<AdminSignInEndpoints> logger)
    {
        if (!oidc.Value.Enabled)
        {
            return AdminProblems.NotFound("OpenID Connect sign-in is not configured (Gateway:Admin:Oidc:Authority).");
        }

        if (!IsConsolePath(returnUrl ??= DefaultReturnUrl))
        {
            // Only the console's own pages: anything else would make this gateway an open redirect after sign-in.
            // Redacted before it is cut short, so that no key is cut in half and missed.
            var shown = SecretRedaction.Redact(returnUrl);
            Log.ReturnUrlRefused(logger, shown.Length > 200 ? shown[..200] : shown);
            return AdminProblems.Invalid("returnUrl", "Must be a path of the console on this listener (starting with /console).");
        }

        // The challenge needs the provider's discovery document and would throw (an empty 500) while it cannot be
        // fetched; fetched here first, where the failure can be answered. Once fetched it is cached, and a failed
        // refresh keeps the last good one, so the challenge that follows does not fetch again.
        var handler = context.RequestServices.GetRequiredService<IOptionsMonitor<OpenIdConnectOptions>>().Get(AdminSessionSchemes.Oidc);
        try
        {
            await handler.ConfigurationManager!.GetConfigurationAsync(context.RequestAborted);
        }
        catch (Exception ex) when (!context.RequestAborted.IsCancellationRequested)
        {
            Log.ProviderUnreachable(logger, oidc.Value.Authority!, ex);
            return new SignInPageResult(
                StatusCodes.Status503ServiceUnavailable,
                "Sign-in unavailable",
                "The identity provider could not be reached, so signing in with it is unavailable. Try again later, or sign in with an admin token.");
        }

        return TypedResults.Challenge(new AuthenticationProperties { RedirectUri = returnUrl }, [AdminSessionSchemes.Oidc]);
    }

    private static async Task CallbackAsync(HttpContext context)
    {
        // Resolved here: without OpenID Connect there is no authentication service at all.
        if (context.RequestServices.GetService<IAuthenticationHandlerProvider>() is { } handlers
            && await handlers.GetHandlerAsync(context, AdminSessionSchemes.Oidc) is IAuthenticationRequestHandler handler
            && await handler.HandleRequestAsync())
        {
            return;
        }

        await SignInRefusalPage.WriteAsync(context, StatusCodes.Status404NotFound, "OpenID Connect sign-in is not configured on this gateway.");
    }

    private static async Task<Results<NoContent, AdminProblem>> SignOutAsync(HttpContext context, IOptions<AdminOidcOptions> oidc, ILogger<AdminSignInEndpoints> logger)
    {
        if (!AdminCrossSiteFilter.IsSameOrigin(context.Request))
        {
            return AdminProblems.CrossSite();
        }

        if (!oidc.Value.Enabled)
        {
            return TypedResults.NoContent();
        }

        var sessions = context.RequestServices.GetRequiredService<AdminSessionAuthenticator>();
        var session = await sessions.AuthenticateAsync(context);
        if (session.CsrfFailed)
        {
            return AdminProblems.Csrf();
        }

        // No session (already ended, or a token caller): nothing to end, and the same answer.
        await context.SignOutAsync(AdminSessionSchemes.Cookie);
        if (session.Principal is { } principal)
        {
            // The cookie is a copy anyone who read it holds too: the session itself is recorded as ended, until the
            // end its cookie could reach.
            if (AdminSessionClaims.CsrfToken(context.User) is { } csrf && AdminSessionClaims.SignedIn(context.User) is { } signedIn)
            {
                try
                {
                    await context.RequestServices.GetRequiredService<IEndedSessionStore>().EndAsync(
                        EndedSessions.SessionId(csrf), signedIn + oidc.Value.SessionLifetime, context.RequestAborted);
                }
                catch (Exception ex) when (StoreResilience.IsUnavailable(ex))
                {
                    // The browser's cookie is gone; a copy of it would still work, so the caller is told to sign out again.
                    return AdminProblems.Unavailable();
                }
            }

            Log.SignedOut(logger, principal.Name);
        }

        return TypedResults.NoContent();
    }

    /// <summary>A path on this listener under the console: no scheme or host, no <c>//</c> or backslash, no control characters.</summary>
    internal static bool IsConsolePath(string url)
    {
        if (url.Length is 0 or > 512 || url[0] != '/' || url.Contains('\\') || url.Any(char.IsControl)
            || (url.Length > 1 && url[1] is '/') || !Uri.TryCreate(url, UriKind.Relative, out _))
        {
            return false;
        }

        var path = url.Split('?', '#')[0];
        if (path.Contains("/..", StringComparison.Ordinal) || path.Contains('%'))
        {
            return false;
        }

        return ReturnPrefixes.Any(prefix => path == prefix || path.StartsWith(prefix + "/", StringComparison.Ordinal));
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = EventIds.AdminSignInReturnUrlRefused, Level = LogLevel.Warning, Message = "Refused a console sign-in whose return address is not a console path: '{ReturnUrl}'.")]
        public static partial void ReturnUrlRefused(ILogger logger, string returnUrl);

        [LoggerMessage(EventId = EventIds.AdminSignInProviderUnreachable, Level = LogLevel.Warning, Message = "Console sign-in unavailable: the identity provider's configuration could not be read from {Authority}.")]
        public static partial void ProviderUnreachable(ILogger logger, string authority, Exception exception);

        [LoggerMessage(EventId = EventIds.AdminSignedOut, Level = LogLevel.Information, Message = "Console session of {Name} signed out.")]
        public static partial void SignedOut(ILogger logger, string name);
    }
}

/// <summary><c>GET /admin/auth/providers</c>: which sign-ins the console offers besides a token.</summary>
internal sealed record AuthProvidersDto(bool Oidc);

[JsonSourceGenerationOptions(JsonSerializerDefaults.Web, WriteIndented = false)]
[JsonSerializable(typeof(AuthProvidersDto))]
internal sealed partial class AdminSessionsJsonContext : JsonSerializerContext;
