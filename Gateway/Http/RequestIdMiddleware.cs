namespace Gateway.Http;

/// <summary>
/// Keeps a client's <c>X-Request-Id</c> when it is a sane token, otherwise generates one; the id is
/// forwarded upstream and returned to the client on every response, errors included.
/// </summary>
internal sealed class RequestIdMiddleware(RequestDelegate next)
{
    public const string HeaderName = "X-Request-Id";
    private const int MaxLength = 128;

    public Task InvokeAsync(HttpContext context)
    {
        var headers = context.Request.Headers;
        var values = headers[HeaderName];
        string id;
        if (values.Count == 1 && IsValid(values[0]))
        {
            id = values[0]!;
        }
        else
        {
            // Sent upstream in place of the client's (IdentityTransformProvider).
            id = RequestIds.New();
        }

        context.TraceIdentifier = id;
        context.Response.Headers[HeaderName] = id;
        return next(context);
    }

    private static bool IsValid(string? value)
    {
        if (string.IsNullOrEmpty(value) || value.Length > MaxLength)
        {
            return false;
        }

        foreach (var c in value)
        {
            // Visible ASCII without quotes or separators that could confuse log parsers, nor characters that cannot
            // stand in a URL path segment as they are (GET /admin/requests/{id} must be able to name every kept id).
            if (c is < '!' or > '~' or '"' or ',' or ';' or '\\' or '/' or '%' or '?' or '#' or '<' or '>' or '`' or '{' or '}' or '|' or '^' or '[' or ']')
            {
                return false;
            }
        }

        // "." and ".." are dot segments: no URL can name them.
        return value is not ("." or "..");
    }
}
