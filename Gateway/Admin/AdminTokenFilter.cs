using System.Globalization;
using System.Net;
using System.Security.Cryptography;
using System.Text;
using Gateway.Http;
using Gateway.Keys;
using Gateway.Observability;

namespace Gateway.Admin;

/// <summary>
/// Requires <c>Authorization: Bearer &lt;Admin:Token&gt;</c>, compared in constant time. Wrong tokens are
/// logged with the caller's address and the endpoint's route pattern (never what it presented, nor the path as sent,
/// where a client may have put a key or a token) and throttled per address group and
/// globally; a request that presents no token (no header, an empty one, or no bearer token in it) is refused
/// without counting, so that anything able to make a browser send requests (an <c>&lt;img&gt;</c> on a web
/// page) cannot lock operators out. An accepted call's address goes into the audit entries it writes.
/// </summary>
internal sealed partial class AdminTokenFilter(AdminToken token, IAdminTokenAuthenticator operators, IAdminSessionAuthenticator sessions, AdminAuthThrottle throttle, AdminClientAddress clientAddress, ILogger<AdminTokenFilter> logger) : IEndpointFilter
{
    public ValueTask<object?> InvokeAsync(EndpointFilterInvocationContext context, EndpointFilterDelegate next)
    {
        var http = context.HttpContext;
        var caller = clientAddress.Resolve(http);
        var group = clientAddress.Group(caller);
        if (throttle.RetryAfter(group) is { } wait)
        {
            var seconds = Math.Max(1, (int)Math.Ceiling(wait.TotalSeconds));
            http.Response.Headers.RetryAfter = seconds.ToString(CultureInfo.InvariantCulture);
            return ValueTask.FromResult<object?>(AdminProblems.TooManyFailedAttempts(seconds));
        }

        // The same strict parsing as the proxy's key check: one header, "Bearer", one space, no whitespace in the token.
        var parsed = BearerToken.TryParse(http.Request.Headers.Authorization, out var presented);
        if (parsed == BearerParseResult.Missing)
        {
            // A console session (OpenID Connect sign-in) stands in for a token; without one the call is refused as before.
            var session = sessions.AuthenticateAsync(http);
            return session.IsCompletedSuccessfully ? DecideSession(session.Result) : DecideSessionAsync(session);
        }

        if (parsed == BearerParseResult.Malformed)
        {
            // "Bearer" with nothing after it, another scheme, two headers: no token was presented, so nothing is being
            // guessed, and counting these would let whatever can add such a header lock operators out.
            Log.Failed(logger, caller, "no bearer token in the Authorization header", http.Request.Method, AdminLoggedRoute.Of(http));
            return ValueTask.FromResult<object?>(AdminProblems.Unauthorized());
        }

        if (Matches(presented, token.Value))
        {
            return Accept(context, next, AdminPrincipal.Bootstrap, caller);
        }

        // Operator tokens (Operators/): looked up by digest; a wrong one fails and counts like a wrong bootstrap token.
        var check = operators.AuthenticateAsync(presented.ToString(), http.RequestAborted);
        return check.IsCompletedSuccessfully ? Decide(check.Result) : DecideAsync(check);

        ValueTask<object?> Decide(AdminPrincipal? principal) => principal is null ? Refuse() : Accept(context, next, principal, caller);

        async ValueTask<object?> DecideAsync(ValueTask<AdminPrincipal?> pending) => await Decide(await pending);

        ValueTask<object?> Refuse() => ValueTask.FromResult<object?>(Failed(http, caller, group));

        ValueTask<object?> DecideSession(AdminSessionResult result)
        {
            if (result.Principal is { } principal)
            {
                return Accept(context, next, principal, caller);
            }

            if (result.CsrfFailed)
            {
                Log.CsrfRefused(logger, caller, http.Request.Method, AdminLoggedRoute.Of(http));
                return ValueTask.FromResult<object?>(AdminProblems.Csrf());
            }

            // Computed whether or not Debug is on: the route pattern is a string the endpoint already holds.
            var route = AdminLoggedRoute.Of(http);
            Log.NoToken(logger, caller, http.Request.Method, route);

            return ValueTask.FromResult<object?>(AdminProblems.Unauthorized());
        }

        async ValueTask<object?> DecideSessionAsync(ValueTask<AdminSessionResult> pending) => await DecideSession(await pending);
    }

    private static ValueTask<object?> Accept(EndpointFilterInvocationContext context, EndpointFilterDelegate next, AdminPrincipal principal, IPAddress caller)
    {
        context.HttpContext.Features.Set(principal);
        AuditCaller.Set(caller.ToString());
        return next(context);
    }

    private AdminProblem Failed(HttpContext http, IPAddress caller, UInt128 group)
    {
        Log.Failed(logger, caller, "wrong token", http.Request.Method, AdminLoggedRoute.Of(http));
        var (groupUsedUp, globalUsedUp) = throttle.Failed(group);
        if (groupUsedUp)
        {
            Log.Throttled(logger, caller);
        }

        if (globalUsedUp)
        {
            Log.GloballyThrottled(logger);
        }

        return AdminProblems.Unauthorized();
    }

    private static bool Matches(ReadOnlySpan<char> presented, string expected)
    {
        // Hash both sides so the comparison takes the same time whatever the lengths.
        Span<byte> a = stackalloc byte[32];
        Span<byte> b = stackalloc byte[32];
        SHA256.HashData(Encoding.UTF8.GetBytes(presented.ToArray()), a);
        SHA256.HashData(Encoding.UTF8.GetBytes(expected), b);
        return CryptographicOperations.FixedTimeEquals(a, b);
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = EventIds.AdminAuthenticationFailed, Level = LogLevel.Warning, Message = "Admin authentication failed from {Caller}: {Reason} ({Method} {Route}).")]
        public static partial void Failed(ILogger logger, IPAddress caller, string reason, string method, string route);

        [LoggerMessage(EventId = EventIds.AdminAuthenticationThrottled, Level = LogLevel.Warning, Message = "Too many failed admin authentications from {Caller}; its admin calls get 429 until Gateway:Admin:FailedAttempts:Window has passed.")]
        public static partial void Throttled(ILogger logger, IPAddress caller);

        [LoggerMessage(EventId = EventIds.AdminAuthenticationGloballyThrottled, Level = LogLevel.Warning, Message = "Too many failed admin authentications from all addresses together; every admin call gets 429 until Gateway:Admin:GlobalFailedAttempts:Window has passed.")]
        public static partial void GloballyThrottled(ILogger logger);

        // Debug: browsers and probes send these harmlessly; they are neither a guess nor worth a warning each.
        [LoggerMessage(EventId = EventIds.AdminAuthenticationMissing, Level = LogLevel.Debug, Message = "Admin call without a token from {Caller} ({Method} {Route}).")]
        public static partial void NoToken(ILogger logger, IPAddress caller, string method, string route);

        [LoggerMessage(EventId = EventIds.AdminSessionCsrfRefused, Level = LogLevel.Warning, Message = "Refused a console session's {Method} {Route} from {Caller}: no valid X-Gateway-Csrf header.")]
        public static partial void CsrfRefused(ILogger logger, IPAddress caller, string method, string route);
    }
}
