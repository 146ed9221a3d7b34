using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;
using Gateway.Admin;
using Gateway.Stores;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Extensions.Options;
using Microsoft.OpenApi;

namespace Gateway.RequestLog;

/// <summary>
/// Reading the request log: <c>GET /admin/orgs/{org}/requests</c> (viewers of the organization),
/// <c>GET /admin/requests</c> (requests refused before an organization was known: tokens without an organization
/// only) and <c>GET /admin/requests/{requestId}</c> (the record's organization decides; one under no organization
/// answers 404 to a token scoped to an organization).
/// </summary>
internal sealed class RequestLogEndpoints : IAdminApi
{
    public const int DefaultLimit = 50;
    public const int MaxLimit = 1000;

    /// <summary>What <see cref="ListAsync"/> reads, for the document.</summary>
    private static readonly AdminQueryParameter[] FilterParameters =
    [
        new("keyId", "Only requests made with this key."),
        new("customerId", "Only requests of this customer."),
        new("status", "Only requests answered with this HTTP status (100 to 599).", JsonSchemaType.Integer),
        new("code", "Only requests refused with this problem code."),
        AdminQueryParameter.Time("from", "Only requests at or after this time (ISO 8601)."),
        AdminQueryParameter.Time("to", "Only requests before this time (ISO 8601)."),
        new("limit", $"Records per page, 1 to {MaxLimit} (default {DefaultLimit}).", JsonSchemaType.Integer),
        new("cursor", "The next of the previous page."),
    ];

    public void Map(RouteGroupBuilder admin)
    {
        admin.MapGet("/orgs/{org}/requests", ListOrgAsync).WithTags("Requests").WithName("ListRequests")
            .RequireAdminRole(AdminRole.Viewer, OrgFrom.Route("org"))
            .WithQueryParameters(FilterParameters)
            .ProducesAdminProblem(StatusCodes.Status400BadRequest, StatusCodes.Status404NotFound);
        admin.MapGet("/requests", ListUnattributedAsync).WithTags("Requests").WithName("ListUnattributedRequests")
            .RequireAdminRole(AdminRole.Viewer, OrgFrom.All)
            .WithQueryParameters(FilterParameters)
            .ProducesAdminProblem(StatusCodes.Status400BadRequest);
        admin.MapGet("/requests/{requestId}", GetAsync).WithTags("Requests").WithName("GetRequest")
            .RequireAdminRole(AdminRole.Viewer, new OrgFromRequestRecord("requestId"))
            .WithQueryParameters(new AdminQueryParameter("org", "The organization whose record is wanted when requests of several share this id."))
            .ProducesAdminProblem(StatusCodes.Status404NotFound);
    }

    private static async Task<Results<Ok<RequestPageDto>, AdminProblem>> ListOrgAsync(
        string org, HttpContext context, IGatewayStore store, IRequestLogStore log, IOptions<RequestLogOptions> options, TimeProvider time, CancellationToken cancellationToken)
    {
        if (await store.GetOrganizationAsync(org, cancellationToken) is null)
        {
            return AdminProblems.NotFound($"Organization '{org}' does not exist.");
        }

        return await ListAsync(org, context, log, options.Value, time, cancellationToken);
    }

    private static Task<Results<Ok<RequestPageDto>, AdminProblem>> ListUnattributedAsync(
        HttpContext context, IRequestLogStore log, IOptions<RequestLogOptions> options, TimeProvider time, CancellationToken cancellationToken) =>
        ListAsync(null, context, log, options.Value, time, cancellationToken);

    private static async Task<Results<Ok<RequestPageDto>, AdminProblem>> ListAsync(
        string? org, HttpContext context, IRequestLogStore log, RequestLogOptions options, TimeProvider time, CancellationToken cancellationToken)
    {
        var q = context.Request.Query;
        var errors = new ValidationErrors();
        var limit = DefaultLimit;
        if (q.TryGetValue("limit", out var limitText) && (!int.TryParse(limitText, NumberStyles.None, CultureInfo.InvariantCulture, out limit) || limit is < 1 or > MaxLimit))
        {
            errors.Add("limit", $"Must be a whole number from 1 to {MaxLimit}.");
        }

        int? status = null;
        if (q.TryGetValue("status", out var statusText))
        {
            if (int.TryParse(statusText, NumberStyles.None, CultureInfo.InvariantCulture, out var s) && s is >= 100 and <= 599)
            {
                status = s;
            }
            else
            {
                errors.Add("status", "Must be an HTTP status from 100 to 599.");
            }
        }

        var from = JsonFields.QueryTime(q, "from", errors);
        var to = JsonFields.QueryTime(q, "to", errors);
        var keyId = Text(q, "keyId", errors);
        var customerId = Text(q, "customerId", errors);
        var code = Text(q, "code", errors);
        var cursor = Text(q, "cursor", errors);
        if (from is { } f && to is { } t && f >= t)
        {
            errors.Add("from", "Must be before 'to'.");
        }

        if (errors.Any)
        {
            return AdminProblems.Validation(errors);
        }

        var query = new RequestQuery(org, keyId, customerId, status, code, from, to, limit, cursor, time.GetUtcNow() - options.Retention);
        try
        {
            var page = await log.QueryAsync(query, cancellationToken);
            return TypedResults.Ok(new RequestPageDto(page.Items.Select(r => RequestDto.From(r, withOrg: false)).ToList(), page.Next));
        }
        catch (InvalidCursorException ex)
        {
            return AdminProblems.Invalid("cursor", ex.Message);
        }
    }

    private static async Task<Results<Ok<RequestDto>, AdminProblem>> GetAsync(
        string requestId, HttpContext context, IRequestLogStore log, IOptions<RequestLogOptions> options, TimeProvider time, CancellationToken cancellationToken)
    {
        // A caller scoped to one organization was looked up in it by OrgFromRequestRecord. Any other sees the newest record,
        // or, with ?org=, that organization's: clients choose their ids, so two organizations' requests may share one, and
        // a record opened from an organization's log must be that organization's (the console passes it).
        var org = OrgFromRequestRecord.AskedOrg(context);
        var notBefore = time.GetUtcNow() - options.Value.Retention;
        var record = OrgFromRequestRecord.Found(context, out var found) ? found
            : requestId.Length > 256 || org is { Length: > 256 } ? null
            : org is not null ? await log.FindAsync(requestId, org, notBefore, cancellationToken)
            : await log.FindAsync(requestId, notBefore, cancellationToken);
        return record is null
            ? AdminProblems.NotFound($"Request '{requestId}' is not in the request log.")
            : TypedResults.Ok(RequestDto.From(record, withOrg: true));
    }

    private static string? Text(IQueryCollection q, string name, ValidationErrors errors)
    {
        if (!q.TryGetValue(name, out var value))
        {
            return null;
        }

        var text = value.ToString();
        if (text.Length is 0 or > 256)
        {
            errors.Add(name, "Must be 1 to 256 characters.");
            return null;
        }

        return text;
    }
}

/// <summary>
/// The route value <paramref name="name"/> is a request id, looked up among the caller's organization's records only:
/// clients choose their <c>X-Request-Id</c>, so another organization's (or an unauthenticated client's) newer record
/// with the same id must not hide this organization's from it. The record found is kept for the endpoint.
/// </summary>
internal sealed class OrgFromRequestRecord(string name) : OrgFrom
{
    private static readonly object ItemKey = new();

    /// <summary>Whether the caller's organization was searched, and what was found there (null: nothing).</summary>
    public static bool Found(HttpContext context, out RequestRecord? record)
    {
        var searched = context.Items.TryGetValue(ItemKey, out var item);
        record = item as RequestRecord;
        return searched;
    }

    /// <summary>The organization <c>?org=</c> names, whose record is wanted when requests of several share an id.</summary>
    public static string? AskedOrg(HttpContext context) =>
        context.Request.Query["org"] is { Count: 1 } org && !string.IsNullOrEmpty(org[0]) ? org[0] : null;

    public override async ValueTask<OrgDecision> DecideAsync(HttpContext context, string scope)
    {
        var id = context.Request.RouteValues[name] as string;
        if (string.IsNullOrEmpty(id) || id.Length > 256)
        {
            return OrgDecision.Allowed;
        }

        // Asked about another organization's log: nothing of it is shown to this caller.
        if (AskedOrg(context) is { } asked && asked != scope)
        {
            context.Items[ItemKey] = null;
            return OrgDecision.Allowed;
        }

        var services = context.RequestServices;
        var retention = services.GetRequiredService<IOptions<RequestLogOptions>>().Value.Retention;
        var record = await services.GetRequiredService<IRequestLogStore>().FindAsync(id, scope, services.GetRequiredService<TimeProvider>().GetUtcNow() - retention, context.RequestAborted);
        context.Items[ItemKey] = record;
        return OrgDecision.Allowed;
    }
}

/// <summary>A request record as the admin API shows it; <see cref="OrgId"/> only on <c>GET /admin/requests/{requestId}</c>.</summary>
internal sealed record RequestDto(
    DateTimeOffset Time,
    string RequestId,
    string? KeyId,
    string? CustomerId,
    string Method,
    string Path,
    string? Route,
    int Status,
    string? Code,
    double DurationMs,
    string? ClientIp,
    int? UpstreamStatus)
{
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? OrgId { get; init; }

    public static RequestDto From(RequestRecord r, bool withOrg) =>
        new(r.Time, r.RequestId, r.KeyId, r.CustomerId, r.Method, r.Path, r.Route, r.Status, r.Code, r.DurationMs, r.ClientIp, r.UpstreamStatus)
        {
            OrgId = withOrg ? r.OrgId : null,
        };
}

internal sealed record RequestPageDto(IReadOnlyList<RequestDto> Items, string? Next);

[JsonSourceGenerationOptions(JsonSerializerDefaults.Web, WriteIndented = false)]
[JsonSerializable(typeof(RequestDto))]
[JsonSerializable(typeof(RequestPageDto))]
internal sealed partial class RequestLogJsonContext : JsonSerializerContext;
