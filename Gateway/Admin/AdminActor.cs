namespace Gateway.Admin;

internal static class AdminActor
{
    public const string HeaderName = "X-Admin-Actor";

    /// <summary>
    /// Who made an admin call, for the audit log: an operator token's name; for the bootstrap token the
    /// <c>X-Admin-Actor</c> header, else the body's createdBy, else "admin".
    /// </summary>
    public static string From(HttpContext context, string? createdBy = null)
    {
        if (AdminPrincipal.Of(context) is { IsBootstrap: false } principal)
        {
            return principal.Name;
        }

        var header = context.Request.Headers[HeaderName];
        if (header.Count == 1 && header[0] is { Length: > 0 and <= 128 } value && value.All(c => c is >= ' ' and <= '~'))
        {
            return value;
        }

        return string.IsNullOrWhiteSpace(createdBy) ? "admin" : createdBy;
    }
}
