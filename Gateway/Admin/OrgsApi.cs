using Gateway.Domain;
using Gateway.Keys;
using Gateway.Stores;

namespace Gateway.Admin;

internal static class OrgsApi
{
    public static RouteGroupBuilder MapOrgsApi(this RouteGroupBuilder admin)
    {
        var orgs = admin.MapGroup("/orgs").WithTags("Organizations");
        orgs.MapPost("/", CreateAsync);
        orgs.MapGet("/", ListAsync);
        orgs.MapGet("/{org}", GetAsync);
        return admin;
    }

    private static async Task<IResult> CreateAsync(HttpContext context, KeyManager keys, TimeProvider time)
    {
        var (request, error) = await AdminRequests.ReadAsync(context.Request, allowEmpty: false, AdminRequests.Organization);
        if (error is not null)
        {
            return error;
        }

        var (org, defaultKey) = await keys.CreateOrganizationAsync(request!.Value.Id, request.Value.Name, AdminActor.From(context), context.RequestAborted);
        var dto = OrgDto.From(org, KeyDto.From(defaultKey.Record, time.GetUtcNow(), plaintext: defaultKey.Plaintext));
        return Results.Json(dto, AdminJsonContext.Default.OrgDto, statusCode: StatusCodes.Status201Created);
    }

    private static async Task<IResult> ListAsync(IGatewayStore store, CancellationToken cancellationToken)
    {
        var orgs = await store.ListOrganizationsAsync(cancellationToken);
        return Results.Json(new ListDto<OrgDto>(orgs.Select(o => OrgDto.From(o)).ToList()), AdminJsonContext.Default.ListDtoOrgDto);
    }

    private static async Task<IResult> GetAsync(string org, IGatewayStore store, CancellationToken cancellationToken)
    {
        var found = await store.GetOrganizationAsync(org, cancellationToken);
        return found is null
            ? AdminProblems.NotFound($"Organization '{org}' does not exist.")
            : Results.Json(OrgDto.From(found), AdminJsonContext.Default.OrgDto);
    }
}
