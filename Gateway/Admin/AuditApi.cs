using System.Globalization;
using System.Text.Json;
using Gateway.Domain;
using Gateway.Stores;
using Microsoft.AspNetCore.Http.HttpResults;

namespace Gateway.Admin;

internal static class AuditApi
{
    private const int DefaultLimit = 50;
    private const int MaxLimit = 500;

    public static RouteGroupBuilder MapAuditApi(this RouteGroupBuilder admin)
    {
        admin.MapGet("/audit", ListAsync).WithTags("Audit").WithName("ListAudit")
            .RequireAdminRole(AdminRole.Viewer, OrgFrom.Query("org"))
            .ProducesAdminProblem(StatusCodes.Status400BadRequest, StatusCodes.Status404NotFound);
        return admin;
    }

    private static async Task<Results<Ok<ListDto<AuditDto>>, AdminProblem>> ListAsync(HttpContext context, IGatewayStore store, CancellationToken cancellationToken)
    {
        var query = context.Request.Query;
        var org = query["org"].ToString();
        if (string.IsNullOrEmpty(org))
        {
            return AdminProblems.Invalid("org", "Required: /admin/audit?org={org}.");
        }

        var limit = DefaultLimit;
        if (query.TryGetValue("limit", out var limitText)
            && (!int.TryParse(limitText, NumberStyles.None, CultureInfo.InvariantCulture, out limit) || limit < 1 || limit > MaxLimit))
        {
            return AdminProblems.Invalid("limit", $"Must be an integer between 1 and {MaxLimit}.");
        }

        // "*": the gateway-wide log (operator tokens of every organization), for callers without an organization.
        if (org != "*" && await store.GetOrganizationAsync(org, cancellationToken) is null)
        {
            return AdminProblems.NotFound($"Organization '{org}' does not exist.");
        }

        var cursor = query.TryGetValue("cursor", out var c) ? c.ToString() : null;
        AuditPage page;
        try
        {
            page = await store.ListAuditAsync(org, cursor, limit, cancellationToken);
        }
        catch (StoreCursorException)
        {
            return AdminProblems.Invalid("cursor", "Not a cursor returned by this API.");
        }

        var items = page.Items.Select(e => new AuditDto(
            e.Id, e.OrgId, e.KeyId, e.Action, e.Actor, e.At,
            e.Changes is null ? null : ParseChanges(e.Changes), e.CallerAddress)).ToList();
        return TypedResults.Ok(new ListDto<AuditDto>(items, page.NextCursor));
    }

    private static JsonElement ParseChanges(string json)
    {
        using var document = JsonDocument.Parse(json);
        return document.RootElement.Clone();
    }
}
