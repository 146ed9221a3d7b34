using Gateway.Domain;

namespace Gateway.Admin;

/// <summary>
/// What an admin log line names for the call: the matched endpoint's route pattern (<c>/admin/keys/{id}/usage</c>),
/// not the path as sent, which holds whatever a client put there (a key or a token pasted where an id belongs).
/// </summary>
internal static class AdminLoggedRoute
{
    public static string Of(HttpContext context) =>
        context.GetEndpoint() is RouteEndpoint { RoutePattern.RawText: { Length: > 0 } pattern }
            ? pattern
            : SecretRedaction.Redact(context.Request.Path.Value ?? "/");
}
