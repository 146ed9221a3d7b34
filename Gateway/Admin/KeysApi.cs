using System.Globalization;
using System.Text.Json;
using Gateway.Configuration;
using Gateway.Domain;
using Gateway.Keys;
using Gateway.RateLimiting;
using Gateway.Stores;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Extensions.Options;

namespace Gateway.Admin;

internal static class KeysApi
{
    private static readonly string[] CreateKeyFields = AdminRequests.Members(AdminJsonContext.Default.CreateKeyRequest);
    private static readonly string[] PatchKeyFields = AdminRequests.Members(AdminJsonContext.Default.PatchKeyRequest);
    private static readonly string[] RotateFields = AdminRequests.Members(AdminJsonContext.Default.RotateKeyRequest);
    private static readonly string[] RateLimitFields = AdminRequests.Members(AdminJsonContext.Default.RateLimitDto);
    private static readonly string[] CreditsFields = ["remaining", "refill"];
    private static readonly string[] RefillFields = ["amount", "period"];

    public static RouteGroupBuilder MapKeysApi(this RouteGroupBuilder admin)
    {
        admin.MapPost("/orgs/{org}/keys", CreateAsync).WithTags("Keys").WithName("CreateKey")
            .RequireAdminRole(AdminRole.Admin, OrgFrom.Route("org"))
            .AcceptsAdminBody<CreateKeyRequest>()
            .ProducesAdminProblem(StatusCodes.Status400BadRequest, StatusCodes.Status404NotFound, StatusCodes.Status409Conflict, StatusCodes.Status413PayloadTooLarge);
        admin.MapGet("/orgs/{org}/keys", ListAsync).WithTags("Keys").WithName("ListKeys")
            .RequireAdminRole(AdminRole.Viewer, OrgFrom.Route("org"))
            .WithQueryParameters(AdminListPages.Parameters("keys"))
            .ProducesAdminProblem(StatusCodes.Status400BadRequest, StatusCodes.Status404NotFound);

        var keys = admin.MapGroup("/keys").WithTags("Keys");
        keys.MapGet("/{id}", GetAsync).WithName("GetKey")
            .RequireAdminRole(AdminRole.Viewer, OrgFrom.Key("id"))
            .ProducesAdminProblem(StatusCodes.Status404NotFound);
        keys.MapPatch("/{id}", PatchAsync).WithName("UpdateKey")
            .RequireAdminRole(AdminRole.Admin, OrgFrom.Key("id"))
            .AcceptsAdminBody<PatchKeyRequest>()
            .ProducesAdminProblem(StatusCodes.Status400BadRequest, StatusCodes.Status404NotFound, StatusCodes.Status409Conflict, StatusCodes.Status413PayloadTooLarge);
        keys.MapPost("/{id}/rotate", RotateAsync).WithName("RotateKey")
            .RequireAdminRole(AdminRole.Admin, OrgFrom.Key("id"))
            .AcceptsAdminBody<RotateKeyRequest>(required: false)
            .ProducesAdminProblem(StatusCodes.Status400BadRequest, StatusCodes.Status404NotFound, StatusCodes.Status409Conflict, StatusCodes.Status413PayloadTooLarge);
        keys.MapPost("/{id}/deactivate", (string id, HttpContext context, KeyManager manager, KeyViews views) =>
            Transition(AdminWrites.RunAsync(context, ct => manager.DeactivateAsync(id, AdminActor.From(context), ct)), views, context.RequestAborted))
            .WithName("DeactivateKey").RequireAdminRole(AdminRole.Admin, OrgFrom.Key("id")).ProducesAdminProblem(StatusCodes.Status404NotFound, StatusCodes.Status409Conflict);
        keys.MapPost("/{id}/activate", (string id, HttpContext context, KeyManager manager, KeyViews views) =>
            Transition(AdminWrites.RunAsync(context, ct => manager.ActivateAsync(id, AdminActor.From(context), ct)), views, context.RequestAborted))
            .WithName("ActivateKey").RequireAdminRole(AdminRole.Admin, OrgFrom.Key("id")).ProducesAdminProblem(StatusCodes.Status404NotFound, StatusCodes.Status409Conflict);
        keys.MapPost("/{id}/revoke", (string id, HttpContext context, KeyManager manager, KeyViews views) =>
            Transition(AdminWrites.RunAsync(context, ct => manager.RevokeAsync(id, AdminActor.From(context), ct)), views, context.RequestAborted))
            .WithName("RevokeKey").RequireAdminRole(AdminRole.Admin, OrgFrom.Key("id")).ProducesAdminProblem(StatusCodes.Status404NotFound, StatusCodes.Status409Conflict);
        return admin;
    }

    private static async Task<Results<Created<KeyDto>, AdminProblem>> CreateAsync(string org, HttpContext context, KeyManager manager, KeyViews views, IOptionsMonitor<GatewayOptions> options, TimeProvider time)
    {
        var (draft, error) = await AdminRequests.ReadAsync(context.Request, allowEmpty: false, (body, errors) => ParseCreate(body, options.CurrentValue, time.GetUtcNow(), errors));
        if (error is not null)
        {
            return error;
        }

        // A key made with an operator token names that operator unless the body says otherwise.
        if (draft!.CreatedBy is null && AdminPrincipal.Of(context) is { IsBootstrap: false } principal)
        {
            draft = draft with { CreatedBy = principal.Name };
        }

        var issued = await AdminWrites.RunAsync(context, ct => manager.CreateKeyAsync(org, draft, AdminActor.From(context, draft.CreatedBy), ct));
        return TypedResults.Created((string?)null, await views.ViewAsync(issued.Record, context.RequestAborted, issued.Plaintext));
    }

    private static async Task<Results<Ok<ListDto<KeyDto>>, AdminProblem>> ListAsync(string org, HttpContext context, IGatewayStore store, KeyViews views, CancellationToken cancellationToken)
    {
        if (!AdminListPages.TryRead(context.Request.Query, "keys", 2, out var request, out var problem))
        {
            return problem!;
        }

        KeyListPosition? after = null;
        if (request.After is [var at, var id])
        {
            if (!long.TryParse(at, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var millis))
            {
                return AdminListPages.InvalidCursor();
            }

            after = new KeyListPosition(millis, id);
        }

        if (await store.GetOrganizationAsync(org, cancellationToken) is null)
        {
            return AdminProblems.NotFound($"Organization '{org}' does not exist.");
        }

        var count = AdminListPages.ReadCount(request);
        var keys = store is IGatewayListPages pages
            ? await pages.ListKeysAfterAsync(org, after, count, cancellationToken)
            : (await store.ListKeysAsync(org, cancellationToken)).Where(k => after is null || after.Precedes(k)).Take(count ?? int.MaxValue).ToList();
        var page = AdminListPages.Page(keys, request, "keys", k => [k.CreatedAt.ToUnixTimeMilliseconds().ToString(CultureInfo.InvariantCulture), k.Id], k => k);
        var items = new List<KeyDto>(page.Items.Count);
        foreach (var k in page.Items)
        {
            items.Add(await views.ViewAsync(k, cancellationToken));
        }

        return TypedResults.Ok(new ListDto<KeyDto>(items, page.NextCursor));
    }

    private static async Task<Results<Ok<KeyDto>, AdminProblem>> GetAsync(string id, IGatewayStore store, KeyViews views, CancellationToken cancellationToken)
    {
        var key = await store.GetKeyAsync(id, cancellationToken);
        return key is null
            ? AdminProblems.NotFound($"Key '{id}' does not exist.")
            : TypedResults.Ok(await views.ViewAsync(key, cancellationToken));
    }

    private static async Task<Results<Ok<KeyDto>, AdminProblem>> PatchAsync(
        string id, HttpContext context, KeyManager manager, IGatewayStore store, KeyViews views, IQuotaCounter counter, IOptionsMonitor<GatewayOptions> options, TimeProvider time)
    {
        var (patch, error) = await AdminRequests.ReadAsync(context.Request, allowEmpty: false, (body, errors) => ParsePatch(body, options.CurrentValue, time.GetUtcNow(), errors));
        if (error is not null)
        {
            return error;
        }

        var before = patch!.HasCredits ? await store.GetKeyAsync(id, context.RequestAborted) : null;
        var key = await AdminWrites.RunAsync(context, ct => manager.UpdateAsync(id, patch, AdminActor.From(context), ct));
        if (before is not null)
        {
            await CreditsApi.RetireOldCreditsAsync(before, key, counter, time);
        }

        return TypedResults.Ok(await views.ViewAsync(key, context.RequestAborted));
    }

    private static async Task<Results<Ok<KeyDto>, AdminProblem>> RotateAsync(string id, HttpContext context, KeyManager manager, KeyViews views)
    {
        var (grace, error) = await AdminRequests.ReadAsync(context.Request, allowEmpty: true, ParseRotate);
        if (error is not null)
        {
            return error;
        }

        var issued = await AdminWrites.RunAsync(context, ct => manager.RotateAsync(id, grace!.Value, AdminActor.From(context), ct));
        return TypedResults.Ok(await views.ViewAsync(issued.Record, context.RequestAborted, issued.Plaintext));
    }

    private static async Task<Ok<KeyDto>> Transition(Task<ApiKeyRecord> operation, KeyViews views, CancellationToken cancellationToken)
    {
        var key = await operation;
        return TypedResults.Ok(await views.ViewAsync(key, cancellationToken));
    }

    private static KeyDraft? ParseCreate(JsonElement body, GatewayOptions options, DateTimeOffset now, ValidationErrors errors)
    {
        JsonFields.RejectUnknown(body, errors, CreateKeyFields);

        var name = Name(body, errors, required: true);
        var (_, environment) = JsonFields.String(body, "environment", errors, maxLength: 32);
        if (environment is not null && !KeyEnvironments.IsValid(environment))
        {
            errors.Add("environment", "Must be one of production, staging, development.");
        }

        var scopes = Scopes(body, options, errors);
        var (_, description) = JsonFields.String(body, "description", errors, allowNull: true, maxLength: 1000);
        var expiresAt = ExpiresAt(body, now, errors);
        var (_, createdBy) = JsonFields.String(body, "createdBy", errors, allowNull: true, maxLength: 128);
        var customerId = CustomerId(body, errors);
        var rateLimit = RateLimit(body, errors);
        var allowedCidrs = AllowedCidrList(body, errors);
        var credits = Credits(body, errors);

        return errors.Any
            ? null
            : new KeyDraft(name!, environment ?? options.Environment, scopes ?? ["*"], description, expiresAt.Value, createdBy, customerId.Value, rateLimit.Value, allowedCidrs.Value, credits.Value);
    }

    private static KeyPatch? ParsePatch(JsonElement body, GatewayOptions options, DateTimeOffset now, ValidationErrors errors)
    {
        if (body.TryGetProperty("environment", out _))
        {
            errors.Add("environment", "A key's environment cannot be changed; create a key for the other environment.");
        }

        JsonFields.RejectUnknown(body, errors, [.. PatchKeyFields, "environment"]);

        var name = Name(body, errors, required: false);
        var (hasDescription, description) = JsonFields.String(body, "description", errors, allowNull: true, maxLength: 1000);
        var scopes = Scopes(body, options, errors);
        var expiresAt = ExpiresAt(body, now, errors);
        var customerId = CustomerId(body, errors);
        var rateLimit = RateLimit(body, errors);
        var allowedCidrs = AllowedCidrList(body, errors);
        var credits = Credits(body, errors);

        return errors.Any
            ? null
            : new KeyPatch
            {
                HasCredits = credits.Present,
                Credits = credits.Value,
                HasAllowedCidrs = allowedCidrs.Present,
                AllowedCidrs = allowedCidrs.Value,
                Name = name,
                HasDescription = hasDescription,
                Description = description,
                Scopes = scopes,
                HasExpiresAt = expiresAt.Present,
                ExpiresAt = expiresAt.Value,
                HasCustomerId = customerId.Present,
                CustomerId = customerId.Value,
                HasRateLimit = rateLimit.Present,
                RateLimit = rateLimit.Value,
            };
    }

    private static TimeSpan? ParseRotate(JsonElement body, ValidationErrors errors)
    {
        JsonFields.RejectUnknown(body, errors, RotateFields);
        // Optional: null reads as absent (no grace), as a client that always sends the member expects.
        var (_, grace) = JsonFields.Duration(body, "gracePeriod", errors, allowNull: true);
        if (grace is { } g && !KeyRules.IsValidGracePeriod(g))
        {
            errors.Add("gracePeriod", $"Must be {KeyRules.GracePeriodRange}.");
        }

        return errors.Any ? null : grace ?? TimeSpan.Zero;
    }

    private static string? Name(JsonElement body, ValidationErrors errors, bool required)
    {
        var (present, name) = JsonFields.String(body, "name", errors, maxLength: 64);
        if (!present && required)
        {
            errors.Add("name", "Required.");
        }
        else if (present && name is not null && !JsonFields.KeyName().IsMatch(name))
        {
            errors.Add("name", "Must match ^[A-Za-z0-9_]{1,64}$ (letters, digits and underscores).");
        }

        return name;
    }

    private static List<string>? Scopes(JsonElement body, GatewayOptions options, ValidationErrors errors)
    {
        var (_, scopes) = JsonFields.StringArray(body, "scopes", errors);
        if (scopes is null)
        {
            return null;
        }

        foreach (var scope in scopes)
        {
            if (!KeyRules.IsKnownScope(scope, options.Scopes))
            {
                errors.Add("scopes", $"Unknown scope '{scope}'. Known scopes: {KeyRules.AnyScope}, {string.Join(", ", options.Scopes)}.");
            }
        }

        return scopes.Distinct(StringComparer.Ordinal).ToList();
    }

    /// <summary><c>allowedCidrs</c>: an array of at most 100 CIDRs (null or [] for any address), stored canonical and without duplicates.</summary>
    private static (bool Present, List<string>? Value) AllowedCidrList(JsonElement body, ValidationErrors errors)
    {
        if (!body.TryGetProperty("allowedCidrs", out var value))
        {
            return (false, null);
        }

        if (value.ValueKind == JsonValueKind.Null)
        {
            return (true, []);
        }

        var (_, items) = JsonFields.StringArray(body, "allowedCidrs", errors, maxItems: AllowedCidrs.MaxCount);
        if (items is null)
        {
            return (true, null);
        }

        var result = new List<string>(items.Count);
        for (var i = 0; i < items.Count; i++)
        {
            if (!AllowedCidrs.TryNormalize(items[i], out var canonical, out var error))
            {
                errors.Add($"allowedCidrs[{i}]", error);
            }
            else if (!result.Contains(canonical, StringComparer.Ordinal))
            {
                result.Add(canonical);
            }
        }

        return (true, result);
    }

    private static (bool Present, DateTimeOffset? Value) ExpiresAt(JsonElement body, DateTimeOffset now, ValidationErrors errors)
    {
        var (present, value) = JsonFields.Timestamp(body, "expiresAt", errors);
        if (!KeyRules.IsValidExpiry(value, now))
        {
            errors.Add("expiresAt", "Must be in the future.");
        }

        return (present, value is { } t ? KeyRules.ToStoredPrecision(t) : null);
    }

    private static (bool Present, string? Value) CustomerId(JsonElement body, ValidationErrors errors)
    {
        var (present, value) = JsonFields.String(body, "customerId", errors, allowNull: true, maxLength: 128);
        if (value is not null && !JsonFields.CustomerId().IsMatch(value))
        {
            errors.Add("customerId", "Must match ^[A-Za-z0-9_.:@-]{1,128}$.");
        }

        return (present, value);
    }

    /// <summary><c>credits</c>: <c>{"remaining": N, "refill": {"amount": N, "period": "day"|"month"}?}</c> or null.</summary>
    private static (bool Present, CreditsDraft? Value) Credits(JsonElement body, ValidationErrors errors)
    {
        if (!body.TryGetProperty("credits", out var value))
        {
            return (false, null);
        }

        if (value.ValueKind == JsonValueKind.Null)
        {
            return (true, null);
        }

        if (value.ValueKind != JsonValueKind.Object)
        {
            errors.Add("credits", "Must be an object {\"remaining\": 1000, \"refill\": {\"amount\": 1000, \"period\": \"month\"}} or null.");
            return (true, null);
        }

        var nested = new ValidationErrors();
        JsonFields.RejectUnknown(value, nested, CreditsFields);
        var remaining = Amount(value, "remaining", nested, required: true);
        CreditRefill? refill = null;
        if (value.TryGetProperty("refill", out var r) && r.ValueKind != JsonValueKind.Null)
        {
            if (r.ValueKind != JsonValueKind.Object)
            {
                nested.Add("refill", "Must be an object {\"amount\": 1000, \"period\": \"day\"|\"month\"} or null.");
            }
            else
            {
                var inner = new ValidationErrors();
                JsonFields.RejectUnknown(r, inner, RefillFields);
                var amount = Amount(r, "amount", inner, required: true);
                var period = JsonFields.Period(r, "period", inner);
                if (amount is { } a && period is { } p)
                {
                    refill = new CreditRefill(a, p);
                }

                nested.AddNested("refill.", inner);
            }
        }

        errors.AddNested("credits.", nested);

        return nested.Any ? (true, null) : (true, new CreditsDraft(remaining!.Value, refill));
    }

    /// <summary>A whole number of credits from 0 to <see cref="QuotaRules.MaxLimit"/>.</summary>
    internal static long? Amount(JsonElement body, string field, ValidationErrors errors, bool required)
    {
        if (!body.TryGetProperty(field, out var value))
        {
            if (required)
            {
                errors.Add(field, "Required.");
            }

            return null;
        }

        if (value.ValueKind != JsonValueKind.Number || !value.TryGetInt64(out var n) || n < 0 || n > QuotaRules.MaxLimit)
        {
            errors.Add(field, $"Must be a whole number from 0 to {QuotaRules.MaxLimit}.");
            return null;
        }

        return n;
    }

    internal static (bool Present, KeyRateLimit? Value) RateLimit(JsonElement body, ValidationErrors errors)
    {
        if (!body.TryGetProperty("rateLimit", out var value))
        {
            return (false, null);
        }

        if (value.ValueKind == JsonValueKind.Null)
        {
            return (true, null);
        }

        if (value.ValueKind != JsonValueKind.Object)
        {
            errors.Add("rateLimit", "Must be an object {\"permitLimit\": 100, \"window\": \"00:01:00\"} or null.");
            return (true, null);
        }

        var nested = new ValidationErrors();
        JsonFields.RejectUnknown(value, nested, RateLimitFields);
        int? permits = null;
        if (!value.TryGetProperty("permitLimit", out var p))
        {
            nested.Add("permitLimit", "Required.");
        }
        else if (p.ValueKind != JsonValueKind.Number || !p.TryGetInt32(out var n) || n < 1 || n > 1_000_000)
        {
            nested.Add("permitLimit", "Must be an integer between 1 and 1000000.");
        }
        else
        {
            permits = n;
        }

        var (windowPresent, window) = JsonFields.Duration(value, "window", nested);
        if (!windowPresent)
        {
            nested.Add("window", "Required.");
        }
        else if (window is { } w && !KeyRules.IsValidWindow(w))
        {
            nested.Add("window", $"Must be {KeyRules.WindowRange}.");
        }

        errors.AddNested("rateLimit.", nested);

        return nested.Any ? (true, null) : (true, new KeyRateLimit(permits!.Value, window!.Value));
    }
}

// Documentation of the bodies (the parsers read them member by member). A default makes a member optional in
// the document; a non-nullable type with a null! default is optional but may not be sent as null.

/// <summary><c>POST /admin/orgs/{org}/keys</c>; members in the order the "Allowed fields" message lists them.</summary>
internal sealed record CreateKeyRequest(
    string Name,
    string Environment = null!,
    IReadOnlyList<string> Scopes = null!,
    string? Description = null,
    DateTimeOffset? ExpiresAt = null,
    string? CreatedBy = null,
    string? CustomerId = null,
    RateLimitDto? RateLimit = null,
    IReadOnlyList<string>? AllowedCidrs = null,
    CreditsDto? Credits = null);

/// <summary><c>PATCH /admin/keys/{id}</c>: only the members sent change; null clears an optional one.</summary>
internal sealed record PatchKeyRequest(
    string Name = null!,
    string? Description = null,
    IReadOnlyList<string> Scopes = null!,
    DateTimeOffset? ExpiresAt = null,
    string? CustomerId = null,
    RateLimitDto? RateLimit = null,
    IReadOnlyList<string>? AllowedCidrs = null,
    CreditsDto? Credits = null);

/// <summary><c>POST /admin/keys/{id}/rotate</c>; an empty body means no grace period.</summary>
internal sealed record RotateKeyRequest(string GracePeriod = null!);
