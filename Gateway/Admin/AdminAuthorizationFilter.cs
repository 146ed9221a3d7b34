namespace Gateway.Admin;

/// <summary>
/// The one place admin calls are authorized, after the token filter has named the caller: the endpoint's
/// <see cref="AdminAccess"/> rule decides by role (else 403 <c>admin_forbidden</c>) and by organization (another
/// organization's objects answer 404 as if absent). Fails closed: an endpoint without a rule is for the
/// bootstrap token only, so a new endpoint that forgets to declare one is refused to every operator.
/// </summary>
internal sealed class AdminAuthorizationFilter : IEndpointFilter
{
    public ValueTask<object?> InvokeAsync(EndpointFilterInvocationContext context, EndpointFilterDelegate next)
    {
        var http = context.HttpContext;
        var principal = http.Features.Get<AdminPrincipal>();
        if (principal is { IsBootstrap: true })
        {
            return next(context);
        }

        var rule = http.GetEndpoint()?.Metadata.GetMetadata<AdminAccess>();
        if (principal is null || rule is null || !(rule.AnyRole || principal.Role.Satisfies(rule.Role)))
        {
            return ValueTask.FromResult<object?>(AdminProblems.Forbidden());
        }

        return principal.Org is null ? next(context) : DecideOrgAsync(context, next, rule, principal.Org);
    }

    private static async ValueTask<object?> DecideOrgAsync(EndpointFilterInvocationContext context, EndpointFilterDelegate next, AdminAccess rule, string scope)
    {
        var decision = await rule.Org.DecideAsync(context.HttpContext, scope);
        if (decision.IsAllowed)
        {
            return await next(context);
        }

        return decision.IsForbidden ? AdminProblems.Forbidden() : AdminProblems.NotFound(decision.NotFound!);
    }
}
