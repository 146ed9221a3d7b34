
namespace Gateway.Admin;

/// <summary>
/// <c>Cache-Control: no-store</c> on every admin API response. Create-org, create-key and rotate answers carry
/// a plaintext key (operator tokens likewise), and the rest name customers and the audit trail: none of it
/// may sit in a browser's disk cache or a caching proxy. Set for the whole group so a new endpoint that
/// returns a secret cannot forget it.
/// </summary>
internal sealed class AdminNoStoreFilter : IEndpointFilter
{
    public ValueTask<object?> InvokeAsync(EndpointFilterInvocationContext context, EndpointFilterDelegate next)
    {
        var headers = context.HttpContext.Response.Headers;
        headers.CacheControl = "no-store";
        return next(context);
    }
}
