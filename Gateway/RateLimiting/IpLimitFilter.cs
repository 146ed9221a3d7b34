using System.Net;

namespace Gateway.RateLimiting;

/// <summary>Applies an <see cref="IpLimitGate"/> to minimal-API endpoints (a group's filter).</summary>
internal sealed class IpLimitFilter(IpLimitGate gate, Func<HttpContext, IPAddress> client) : IEndpointFilter
{
    /// <summary>The admin listener's gate, keyed by the caller address the admin listener believes.</summary>
    public static IpLimitFilter Admin(IServiceProvider services, Func<HttpContext, IPAddress> caller) =>
        new(services.GetRequiredKeyedService<IpLimitGate>(IpLimitGate.Admin), caller);

    public ValueTask<object?> InvokeAsync(EndpointFilterInvocationContext context, EndpointFilterDelegate next) =>
        gate.TryEnter(context.HttpContext, client(context.HttpContext), out var refusal) ? next(context) : RefusedAsync(refusal);

    private static async ValueTask<object?> RefusedAsync(Task refusal)
    {
        await refusal;
        return Results.Empty;
    }
}
