using System.Globalization;
using System.Text.Json;
using Gateway.Domain;
using Gateway.Stores;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.OpenApi;

namespace Gateway.Admin;

internal static class AuditApi
{
    private const int DefaultLimit = 50;
    private const int MaxLimit = 500;
    private const int ScanBudget = 5000;

    public static RouteGroupBuilder MapAuditApi(this RouteGroupBuilder admin)
    {
        admin.MapGet("/audit", ListAsync).WithTags("Audit").WithName("ListAudit")
            .RequireAdminRole(AdminRole.Viewer, OrgFrom.Query("org"))
            .WithQueryParameters(
                new AdminQueryParameter("org", "The organization whose log is read; '*' for the gateway-wide log (tokens without an organization).", Required: true),
                new AdminQueryParameter("limit", $"Entries per page, 1 to {MaxLimit} (default {DefaultLimit}).", JsonSchemaType.Integer),
                new AdminQueryParameter("cursor", "The nextCursor of the previous page."),
                new AdminQueryParameter("action", "Only entries of this action, such as key.rotate."),
                new AdminQueryParameter("key", "Only entries about this key id."))
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
        var action = query.TryGetValue("action", out var a) ? a.ToString() : null;
        var key = query.TryGetValue("key", out var k) ? k.ToString() : null;
        if (action is { Length: 0 or > 64 })
        {
            return AdminProblems.Invalid("action", "Must be an audit action such as key.rotate (1 to 64 characters).");
        }

        if (key is { Length: 0 or > 128 })
        {
            return AdminProblems.Invalid("key", "Must be a key id (1 to 128 characters).");
        }

        AuditPage page;
        try
        {
            page = action is null && key is null
                ? await store.ListAuditAsync(org, cursor, limit, cancellationToken)
                : await FilteredAsync(store, org, cursor, limit, action, key, cancellationToken);
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

    /// <summary>
    /// Filters on the server, so a key's trail is found however many newer entries the organization has.
    /// The stores page by position only, so this reads their pages (500 at a time) and keeps the matches.
    /// When a page holds more matches than are still wanted, the same page is read again cut just after the
    /// last one wanted, so the cursor handed out is exact and no entry is skipped or repeated. At most
    /// <see cref="ScanBudget"/> entries are read per call: a sparse filter then answers a short (even empty)
    /// page with a nextCursor to continue from, rather than one long request.
    /// </summary>
    private static async Task<AuditPage> FilteredAsync(
        IGatewayStore store, string org, string? cursor, int limit, string? action, string? key, CancellationToken cancellationToken)
    {
        bool Matches(AuditEntry e) => (action is null || e.Action == action) && (key is null || e.KeyId == key);
        var items = new List<AuditEntry>();
        var read = 0;
        while (items.Count < limit && read < ScanBudget)
        {
            var page = await store.ListAuditAsync(org, cursor, MaxLimit, cancellationToken);
            read += page.Items.Count;
            var wanted = limit - items.Count;
            var matches = page.Items.Where(Matches).ToList();
            if (matches.Count > wanted)
            {
                var cut = 0;
                for (var seen = 0; seen < wanted; cut++)
                {
                    seen += Matches(page.Items[cut]) ? 1 : 0;
                }

                page = await store.ListAuditAsync(org, cursor, cut, cancellationToken);
                matches = page.Items.Where(Matches).ToList();
            }

            items.AddRange(matches);
            cursor = page.NextCursor;
            if (cursor is null)
            {
                break;
            }
        }

        return new AuditPage(items, cursor);
    }

    private static JsonElement ParseChanges(string json)
    {
        using var document = JsonDocument.Parse(json);
        return document.RootElement.Clone();
    }
}
