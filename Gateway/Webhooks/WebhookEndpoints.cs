using System.Text.Json;
using System.Text.Json.Serialization;
using Gateway.Admin;
using Gateway.Http;
using Gateway.Keys;
using Gateway.Stores;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.OpenApi;
using Microsoft.Extensions.Options;
using Microsoft.OpenApi;

namespace Gateway.Webhooks;

/// <summary>
/// Webhooks of an organization: viewers list and read them and their deliveries; admins create (the secret is in
/// that one answer), change, delete and retry deliveries. URLs are checked by <see cref="WebhookUrlGuard"/>
/// (400 <c>webhook_url_not_allowed</c>).
/// </summary>
internal sealed class WebhookEndpoints : IAdminApi
{
    private static readonly string[] CreateFields = AdminRequests.Members(WebhookJsonContext.Default.CreateWebhookRequest);
    private static readonly string[] PatchFields = AdminRequests.Members(WebhookJsonContext.Default.PatchWebhookRequest);

    public void Map(RouteGroupBuilder admin)
    {
        admin.MapPost("/orgs/{org}/webhooks", CreateAsync).WithTags("Webhooks").WithName("CreateWebhook")
            .RequireAdminRole(AdminRole.Admin, OrgFrom.Route("org"))
            .AcceptsAdminBody<CreateWebhookRequest>()
            .AddOpenApiOperationTransformer(ListEventNames)
            .ProducesAdminProblem(StatusCodes.Status400BadRequest, StatusCodes.Status404NotFound, StatusCodes.Status409Conflict, StatusCodes.Status413PayloadTooLarge);
        admin.MapGet("/orgs/{org}/webhooks", ListAsync).WithTags("Webhooks").WithName("ListWebhooks")
            .RequireAdminRole(AdminRole.Viewer, OrgFrom.Route("org"))
            .WithQueryParameters(AdminListPages.Parameters("webhooks"))
            .ProducesAdminProblem(StatusCodes.Status400BadRequest, StatusCodes.Status404NotFound);
        var hooks = admin.MapGroup("/webhooks").WithTags("Webhooks");
        hooks.MapGet("/{id}", GetAsync).WithName("GetWebhook")
            .RequireAdminRole(AdminRole.Viewer, new OrgFromWebhook("id"))
            .ProducesAdminProblem(StatusCodes.Status404NotFound);
        hooks.MapPatch("/{id}", PatchAsync).WithName("UpdateWebhook")
            .RequireAdminRole(AdminRole.Admin, new OrgFromWebhook("id"))
            .AcceptsAdminBody<PatchWebhookRequest>()
            .AddOpenApiOperationTransformer(ListEventNames)
            .ProducesAdminProblem(StatusCodes.Status400BadRequest, StatusCodes.Status404NotFound, StatusCodes.Status413PayloadTooLarge);
        hooks.MapDelete("/{id}", DeleteAsync).WithName("DeleteWebhook")
            .RequireAdminRole(AdminRole.Admin, new OrgFromWebhook("id"))
            .ProducesAdminProblem(StatusCodes.Status404NotFound);
        hooks.MapGet("/{id}/deliveries", DeliveriesAsync).WithName("ListWebhookDeliveries")
            .RequireAdminRole(AdminRole.Viewer, new OrgFromWebhook("id"))
            .WithQueryParameters(
                new AdminQueryParameter("limit", $"Deliveries per page, newest first, 1 to {AdminListPages.MaxLimit} (default {DeliveriesPerPage}).", JsonSchemaType.Integer),
                new AdminQueryParameter("cursor", "The nextCursor of the previous page (null on the last page)."))
            .ProducesAdminProblem(StatusCodes.Status400BadRequest, StatusCodes.Status404NotFound);
        hooks.MapPost("/{id}/deliveries/{delivery}/retry", RetryAsync).WithName("RetryWebhookDelivery")
            .RequireAdminRole(AdminRole.Admin, new OrgFromWebhook("id"))
            .ProducesAdminProblem(StatusCodes.Status404NotFound, StatusCodes.Status409Conflict);
    }

    /// <summary>The parser accepts only known event names: the document lists them.</summary>
    private static Task ListEventNames(OpenApiOperation operation, OpenApiOperationTransformerContext context, CancellationToken cancellationToken)
    {
        if (operation.RequestBody?.Content?["application/json"].Schema is OpenApiSchema { Properties: { } members }
            && members.TryGetValue("events", out var events) && events is OpenApiSchema list)
        {
            list.Items = new OpenApiSchema
            {
                Type = JsonSchemaType.String,
                Enum = WebhookEvents.All.Select(e => (System.Text.Json.Nodes.JsonNode)System.Text.Json.Nodes.JsonValue.Create(e)).ToList(),
            };
        }

        return Task.CompletedTask;
    }

    private static async Task<Results<Created<WebhookDto>, AdminProblem>> CreateAsync(
        string org, HttpContext context, IGatewayStore gateway, IWebhookStore store, WebhookUrlGuard guard, IOptionsMonitor<WebhookOptions> options, TimeProvider time)
    {
        var (draft, error) = await AdminRequests.ReadAsync(context.Request, allowEmpty: false, (body, errors) => Parse(body, errors, create: true));
        if (error is not null)
        {
            return error;
        }

        if (await gateway.GetOrganizationAsync(org, CancellationToken.None) is null)
        {
            return AdminProblems.NotFound($"Organization '{org}' does not exist.");
        }

        if (await guard.RefuseUrlAsync(draft.Url!, CancellationToken.None) is { } refused)
        {
            return UrlNotAllowed(refused);
        }

        var max = options.CurrentValue.MaxPerOrg;
        if ((await store.ListAsync(org, CancellationToken.None)).Count >= max)
        {
            return AdminProblems.Conflict($"An organization has at most {max} webhooks.");
        }

        var now = time.GetUtcNow();
        var hook = new Webhook("wh_" + Base62.Random(20), org, draft.Url!, draft.Events!, draft.Description, WebhookSignature.NewSecret(), true, null, null, now, now);

        // Once the body is read the webhook is made, even if the client leaves.
        await store.CreateAsync(hook, CancellationToken.None);
        await AuditAsync(store, null, hook, context, now);
        context.Response.Headers.CacheControl = "no-store";
        return TypedResults.Created((string?)null, WebhookDto.From(hook) with { Secret = hook.Secret });
    }

    private static async Task<Results<Ok<WebhookListDto>, AdminProblem>> ListAsync(string org, HttpContext context, IGatewayStore gateway, IWebhookStore store, CancellationToken cancellationToken)
    {
        if (!AdminListPages.TryReadTimed(context.Request.Query, "webhooks", out var request, out var after, out var problem))
        {
            return problem!;
        }

        if (await gateway.GetOrganizationAsync(org, cancellationToken) is null)
        {
            return AdminProblems.NotFound($"Organization '{org}' does not exist.");
        }

        var hooks = await store.ListAfterAsync(org, after, AdminListPages.ReadCount(request), cancellationToken);
        var page = AdminListPages.Page(hooks, request, "webhooks", w => AdminListPages.TimedKey(w.CreatedAt, w.Id), WebhookDto.From);
        return TypedResults.Ok(new WebhookListDto(page.Items, page.NextCursor));
    }

    private static async Task<Results<Ok<WebhookDto>, AdminProblem>> GetAsync(string id, IWebhookStore store, CancellationToken cancellationToken) =>
        await store.GetAsync(id, cancellationToken) is { } hook ? TypedResults.Ok(WebhookDto.From(hook)) : NotFound(id);

    private static async Task<Results<Ok<WebhookDto>, AdminProblem>> PatchAsync(
        string id, HttpContext context, IWebhookStore store, WebhookUrlGuard guard, TimeProvider time)
    {
        var (draft, error) = await AdminRequests.ReadAsync(context.Request, allowEmpty: false, (body, errors) => Parse(body, errors, create: false));
        if (error is not null)
        {
            return error;
        }

        var hook = await store.GetAsync(id, CancellationToken.None);
        if (hook is null)
        {
            return NotFound(id);
        }

        if (draft.Url is not null && await guard.RefuseUrlAsync(draft.Url, CancellationToken.None) is { } refused)
        {
            return UrlNotAllowed(refused);
        }

        var enable = draft.Enabled == true && !hook.Enabled;
        var updated = hook with
        {
            Url = draft.Url ?? hook.Url,
            Events = draft.Events ?? hook.Events,
            Description = draft.HasDescription ? draft.Description : hook.Description,
            Enabled = draft.Enabled ?? hook.Enabled,
            DisabledReason = draft.Enabled is null ? hook.DisabledReason : draft.Enabled.Value ? null : "Disabled by an operator.",
            FailingSince = enable ? null : hook.FailingSince,
            UpdatedAt = time.GetUtcNow(),
        };
        await store.UpdateAsync(updated, CancellationToken.None);
        await AuditAsync(store, hook, updated, context, updated.UpdatedAt);
        return TypedResults.Ok(WebhookDto.From(updated));
    }

    private static async Task<Results<NoContent, AdminProblem>> DeleteAsync(string id, HttpContext context, IWebhookStore store, TimeProvider time)
    {
        var hook = await store.GetAsync(id, CancellationToken.None);
        if (hook is null || !await store.DeleteAsync(id, CancellationToken.None))
        {
            return NotFound(id);
        }

        await AuditAsync(store, hook, null, context, time.GetUtcNow());
        return TypedResults.NoContent();
    }

    // After the change, in the organization's log beside key and customer changes (the webhook store has no transaction
    // spanning both, as for webhook.disabled).
    private static async Task AuditAsync(IWebhookStore store, Webhook? before, Webhook? after, HttpContext context, DateTimeOffset at)
    {
        if (WebhookAudit.Entry(before, after, AdminActor.From(context), at) is { } entry)
        {
            await store.AuditAsync(entry, CancellationToken.None);
        }
    }

    /// <summary>Deliveries a page holds without <c>limit</c>: a webhook keeps up to 1,000, and the newest are what one looks for.</summary>
    private const int DeliveriesPerPage = 50;

    private static async Task<Results<Ok<DeliveryListDto>, AdminProblem>> DeliveriesAsync(string id, HttpContext context, IWebhookStore store, CancellationToken cancellationToken)
    {
        if (!AdminListPages.TryReadTimed(context.Request.Query, "deliveries", out var request, out var after, out var problem, DeliveriesPerPage))
        {
            return problem!;
        }

        if (await store.GetAsync(id, cancellationToken) is null)
        {
            return NotFound(id);
        }

        // Always a limit, so there is always a next page to say when more are kept than this one shows.
        var deliveries = await store.ListDeliveriesAsync(id, after, AdminListPages.ReadCount(request)!.Value, cancellationToken);
        var page = AdminListPages.Page(deliveries, request, "deliveries", d => AdminListPages.TimedKey(d.CreatedAt, d.Id), DeliveryDto.From);
        return TypedResults.Ok(new DeliveryListDto(page.Items, page.NextCursor));
    }

    private static async Task<Results<Ok<DeliveryDto>, AdminProblem>> RetryAsync(
        string id, string delivery, IWebhookStore store, WebhookSignal signal, TimeProvider time)
    {
        var hook = await store.GetAsync(id, CancellationToken.None);
        var found = hook is null ? null : await store.GetDeliveryAsync(delivery, CancellationToken.None);
        if (hook is null || found is null || found.WebhookId != id)
        {
            return AdminProblems.NotFound($"Delivery '{delivery}' of webhook '{id}' does not exist.");
        }

        if (!hook.Enabled)
        {
            return AdminProblems.Conflict("The webhook is disabled; enable it (PATCH enabled: true) before retrying.");
        }

        // Due now, as pending, whatever it was: the same webhook-id, so a receiver that got it before can tell.
        var retried = found with { Status = WebhookDelivery.Pending, NextAttemptAt = time.GetUtcNow() };
        await store.SaveDeliveryAsync(retried, CancellationToken.None);
        signal.Wake();
        return TypedResults.Ok(DeliveryDto.From(retried));
    }

    private static AdminProblem NotFound(string id) => AdminProblems.NotFound($"Webhook '{id}' does not exist.");

    private static AdminProblem UrlNotAllowed(string detail)
    {
        var errors = new ValidationErrors();
        errors.Add("url", detail);
        return new AdminProblem(ProblemCodes.WebhookUrlNotAllowed, detail, errors);
    }

    private static WebhookDraft Parse(JsonElement body, ValidationErrors errors, bool create)
    {
        JsonFields.RejectUnknown(body, errors, create ? CreateFields : PatchFields);
        var (urlPresent, url) = JsonFields.String(body, "url", errors, maxLength: 2048);
        var (eventsPresent, events) = JsonFields.StringArray(body, "events", errors, maxItems: WebhookEvents.All.Length);
        var (descriptionPresent, description) = JsonFields.String(body, "description", errors, allowNull: true, maxLength: 256);
        bool? enabled = null;
        if (!create && body.TryGetProperty("enabled", out var e))
        {
            if (e.ValueKind is JsonValueKind.True or JsonValueKind.False)
            {
                enabled = e.GetBoolean();
            }
            else
            {
                errors.Add("enabled", "Must be true or false.");
            }
        }

        if (create && !urlPresent && !errors.All.ContainsKey("url"))
        {
            errors.Add("url", "Required.");
        }

        if (create && !eventsPresent && !errors.All.ContainsKey("events"))
        {
            errors.Add("events", "Required: a list of " + string.Join(", ", WebhookEvents.All) + ".");
        }
        else if (events is not null)
        {
            if (events.Count == 0)
            {
                errors.Add("events", "Must name at least one event.");
            }

            foreach (var name in events.Where(n => !WebhookEvents.All.Contains(n, StringComparer.Ordinal)))
            {
                errors.Add("events", $"Unknown event '{name}'; known: {string.Join(", ", WebhookEvents.All)}.");
            }

            events = events.Distinct(StringComparer.Ordinal).ToList();
        }

        return new WebhookDraft(url, events, descriptionPresent, description, enabled);
    }

    private sealed record WebhookDraft(string? Url, IReadOnlyList<string>? Events, bool HasDescription, string? Description, bool? Enabled);
}

/// <summary>The route value <paramref name="name"/> is a webhook id; the webhook's organization decides.</summary>
internal sealed class OrgFromWebhook(string name) : OrgFrom
{
    public override async ValueTask<OrgDecision> DecideAsync(HttpContext context, string scope)
    {
        var id = context.Request.RouteValues[name] as string;
        if (string.IsNullOrEmpty(id))
        {
            return OrgDecision.Allowed;
        }

        var hook = await context.RequestServices.GetRequiredService<IWebhookStore>().GetAsync(id, context.RequestAborted);
        return hook is null || hook.OrgId == scope ? OrgDecision.Allowed : OrgDecision.Hide($"Webhook '{id}' does not exist.");
    }
}

// Documentation of the bodies (Parse reads them member by member). A default makes a member optional in the
// document; a non-nullable type with a null! default is optional but may not be sent as null.

/// <summary><c>POST /admin/orgs/{org}/webhooks</c>.</summary>
internal sealed record CreateWebhookRequest(string Url, IReadOnlyList<string> Events, string? Description = null);

/// <summary><c>PATCH /admin/webhooks/{id}</c>: only the members sent change; a null description clears it.</summary>
internal sealed record PatchWebhookRequest(string Url = null!, IReadOnlyList<string> Events = null!, string? Description = null, bool Enabled = true);

/// <summary>A webhook as the admin API shows it; <see cref="Secret"/> only in the create response.</summary>
internal sealed record WebhookDto(
    string Id,
    string OrgId,
    string Url,
    IReadOnlyList<string> Events,
    string? Description,
    bool Enabled,
    string? DisabledReason,
    DateTimeOffset? FailingSince,
    DateTimeOffset CreatedAt,
    DateTimeOffset UpdatedAt)
{
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? Secret { get; init; }

    public static WebhookDto From(Webhook w) =>
        new(w.Id, w.OrgId, w.Url, w.Events, w.Description, w.Enabled, w.DisabledReason, w.FailingSince, w.CreatedAt, w.UpdatedAt);
}

internal sealed record WebhookListDto(IReadOnlyList<WebhookDto> Items, string? NextCursor = null);

/// <summary>One delivery: <see cref="NextAttemptAt"/> only while pending.</summary>
internal sealed record DeliveryDto(
    string Id,
    string WebhookId,
    string Type,
    string Status,
    int Attempts,
    DateTimeOffset CreatedAt,
    DateTimeOffset? NextAttemptAt,
    DateTimeOffset? LastAttemptAt,
    int? ResponseStatus,
    string? LastError,
    DateTimeOffset? DeliveredAt)
{
    public static DeliveryDto From(WebhookDelivery d) => new(
        d.Id, d.WebhookId, d.Type, d.Status, d.Attempts, d.CreatedAt, d.Status == WebhookDelivery.Pending ? d.NextAttemptAt : null,
        d.LastAttemptAt, d.ResponseStatus, d.LastError, d.DeliveredAt);
}

internal sealed record DeliveryListDto(IReadOnlyList<DeliveryDto> Items, string? NextCursor = null);

[JsonSourceGenerationOptions(JsonSerializerDefaults.Web, WriteIndented = false)]
[JsonSerializable(typeof(WebhookDto))]
[JsonSerializable(typeof(WebhookListDto))]
[JsonSerializable(typeof(DeliveryDto))]
[JsonSerializable(typeof(DeliveryListDto))]
[JsonSerializable(typeof(CreateWebhookRequest))]
[JsonSerializable(typeof(PatchWebhookRequest))]
internal sealed partial class WebhookJsonContext : JsonSerializerContext;
