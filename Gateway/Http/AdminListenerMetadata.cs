namespace Gateway.Http;

/// <summary>Marks an endpoint as served only on the admin listener.</summary>
internal sealed class AdminListenerMetadata
{
    public static readonly AdminListenerMetadata Instance = new();
}

internal static class AdminListenerEndpoints
{
    /// <summary>
    /// Serves the endpoints on the admin listener only, with the headers every admin listener answer carries. One call
    /// for both, so an endpoint added to the admin listener cannot have one without the other.
    /// </summary>
    public static TBuilder OnAdminListener<TBuilder>(this TBuilder builder)
        where TBuilder : IEndpointConventionBuilder =>
        builder.WithMetadata(AdminListenerMetadata.Instance).AddEndpointFilter(new AdminListenerHeadersFilter());
}

/// <summary>
/// <c>X-Content-Type-Options: nosniff</c> on every admin listener answer: JSON and text that a browser sniffed as HTML
/// would run whatever a caller managed to put into it (a key's description, a customer's name) with the admin origin's
/// rights. The proxy listener's answers are the upstreams' and keep their own headers.
/// </summary>
internal sealed class AdminListenerHeadersFilter : IEndpointFilter
{
    public ValueTask<object?> InvokeAsync(EndpointFilterInvocationContext context, EndpointFilterDelegate next)
    {
        Apply(context.HttpContext.Response);
        return next(context);
    }

    public static void Apply(HttpResponse response) => response.Headers.XContentTypeOptions = "nosniff";
}
