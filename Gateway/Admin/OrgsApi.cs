using System.Text.Json;
using Gateway.Domain;
using Gateway.Keys;
using Gateway.Stores;
using Microsoft.AspNetCore.Http.HttpResults;

namespace Gateway.Admin;

internal static class OrgsApi
{
    private static readonly string[] CreateFields = AdminRequests.Members(AdminJsonContext.Default.CreateOrgRequest);

    public static RouteGroupBuilder MapOrgsApi(this RouteGroupBuilder admin)
    {
        var orgs = admin.MapGroup("/orgs").WithTags("Organizations");
        orgs.MapPost("/", CreateAsync).WithName("CreateOrg")
            .RequireAdminRole(AdminRole.Admin, OrgFrom.All)
            .AcceptsAdminBody<CreateOrgRequest>()
            .ProducesAdminProblem(StatusCodes.Status400BadRequest, StatusCodes.Status409Conflict, StatusCodes.Status413PayloadTooLarge);
        orgs.MapGet("/", ListAsync).WithName("ListOrgs")
            .RequireAdminRole(AdminRole.Viewer, OrgFrom.None)
            .WithQueryParameters(AdminListPages.Parameters("organizations"))
            .ProducesAdminProblem(StatusCodes.Status400BadRequest);
        orgs.MapGet("/{org}", GetAsync).WithName("GetOrg")
            .RequireAdminRole(AdminRole.Viewer, OrgFrom.Route("org"))
            .ProducesAdminProblem(StatusCodes.Status404NotFound);
        return admin;
    }

    private static async Task<Results<Created<OrgDto>, AdminProblem>> CreateAsync(HttpContext context, KeyManager keys, KeyViews views)
    {
        var (request, error) = await AdminRequests.ReadAsync(context.Request, allowEmpty: false, Parse);
        if (error is not null)
        {
            return error;
        }

        var (org, defaultKey) = await AdminWrites.RunAsync(context, ct => keys.CreateOrganizationAsync(request!.Value.Id, request.Value.Name, AdminActor.From(context), ct));
        // No Location header: the API never sent one, and clients read the id from the body.
        return TypedResults.Created((string?)null, OrgDto.From(org, await views.ViewAsync(defaultKey.Record, context.RequestAborted, defaultKey.Plaintext)));
    }

    private static async Task<Results<Ok<ListDto<OrgDto>>, AdminProblem>> ListAsync(HttpContext context, IGatewayStore store, CancellationToken cancellationToken)
    {
        if (!AdminListPages.TryRead(context.Request.Query, "orgs", 1, out var request, out var problem))
        {
            return problem!;
        }

        var after = request.After?[0];
        var count = AdminListPages.ReadCount(request);
        IReadOnlyList<Organization> orgs;
        if (AdminPrincipal.Of(context).Org is { } only)
        {
            // A token of one organization lists that one only: read it, not every organization.
            orgs = after is null || string.CompareOrdinal(only, after) > 0
                ? await store.GetOrganizationAsync(only, cancellationToken) is { } found ? [found] : []
                : [];
        }
        else
        {
            orgs = store is IGatewayListPages pages
                ? await pages.ListOrganizationsAfterAsync(after, count, cancellationToken)
                : (await store.ListOrganizationsAsync(cancellationToken)).Where(o => after is null || string.CompareOrdinal(o.Id, after) > 0).Take(count ?? int.MaxValue).ToList();
        }

        return TypedResults.Ok(AdminListPages.Page(orgs, request, "orgs", o => [o.Id], o => OrgDto.From(o)));
    }

    private static async Task<Results<Ok<OrgDto>, AdminProblem>> GetAsync(string org, IGatewayStore store, CancellationToken cancellationToken)
    {
        var found = await store.GetOrganizationAsync(org, cancellationToken);
        return found is null
            ? AdminProblems.NotFound($"Organization '{org}' does not exist.")
            : TypedResults.Ok(OrgDto.From(found));
    }

    private static (string Id, string Name)? Parse(JsonElement body, ValidationErrors errors)
    {
        JsonFields.RejectUnknown(body, errors, CreateFields);
        var (_, id) = JsonFields.String(body, "id", errors, maxLength: 64);
        var (namePresent, name) = JsonFields.String(body, "name", errors, maxLength: 200);
        if (id is null && !errors.All.ContainsKey("id"))
        {
            errors.Add("id", "Required.");
        }
        else if (id is not null && !JsonFields.OrgId().IsMatch(id))
        {
            errors.Add("id", "Must match ^[A-Za-z0-9_-]{1,64}$.");
        }

        if (namePresent && name is not null && string.IsNullOrWhiteSpace(name))
        {
            errors.Add("name", "Must not be blank.");
        }

        return errors.Any ? null : (id!, string.IsNullOrWhiteSpace(name) ? id! : name.Trim());
    }
}

/// <summary><c>POST /admin/orgs</c>: <c>name</c> defaults to the id.</summary>
internal sealed record CreateOrgRequest(string Id, string Name = null!);
