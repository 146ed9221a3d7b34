using System.Globalization;
using System.Text.Json;

using Gateway.Configuration;
using Gateway.Customers;
using Gateway.Domain;
using Gateway.RateLimiting;
using Gateway.Stores;
using Gateway.Usage;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Extensions.Options;

namespace Gateway.Admin;

/// <summary>Customers of an organization (docs/plans-and-quotas.md): their plan, own limits, and usage.</summary>
internal static class CustomersApi
{
    private static readonly string[] CreateFields = AdminRequests.Members(AdminJsonContext.Default.CreateCustomerRequest);
    private static readonly string[] PatchFields = AdminRequests.Members(AdminJsonContext.Default.PatchCustomerRequest);
    private static readonly string[] QuotaFields = ["limit", "period"];

    public static RouteGroupBuilder MapCustomersApi(this RouteGroupBuilder admin)
    {
        var customers = admin.MapGroup("/orgs/{org}/customers").WithTags("Customers");
        customers.MapPost("", CreateAsync).WithName("CreateCustomer")
            .RequireAdminRole(AdminRole.Admin, OrgFrom.Route("org"))
            .AcceptsAdminBody<CreateCustomerRequest>()
            .ProducesAdminProblem(StatusCodes.Status400BadRequest, StatusCodes.Status404NotFound, StatusCodes.Status409Conflict, StatusCodes.Status413PayloadTooLarge);
        customers.MapGet("", ListAsync).WithName("ListCustomers")
            .RequireAdminRole(AdminRole.Viewer, OrgFrom.Route("org"))
            .WithQueryParameters(AdminListPages.Parameters("customers"))
            .ProducesAdminProblem(StatusCodes.Status400BadRequest, StatusCodes.Status404NotFound);
        customers.MapGet("/{id}", GetAsync).WithName("GetCustomer")
            .RequireAdminRole(AdminRole.Viewer, OrgFrom.Route("org"))
            .ProducesAdminProblem(StatusCodes.Status404NotFound);
        customers.MapPatch("/{id}", PatchAsync).WithName("UpdateCustomer")
            .RequireAdminRole(AdminRole.Admin, OrgFrom.Route("org"))
            .AcceptsAdminBody<PatchCustomerRequest>()
            .ProducesAdminProblem(StatusCodes.Status400BadRequest, StatusCodes.Status404NotFound, StatusCodes.Status413PayloadTooLarge);
        customers.MapDelete("/{id}", DeleteAsync).WithName("DeleteCustomer")
            .RequireAdminRole(AdminRole.Admin, OrgFrom.Route("org"))
            .ProducesAdminProblem(StatusCodes.Status404NotFound, StatusCodes.Status409Conflict);
        customers.MapGet("/{id}/usage", UsageAsync).WithName("GetCustomerUsage")
            .RequireAdminRole(AdminRole.Viewer, OrgFrom.Route("org"))
            .WithQueryParameters(UsageApi.RangeParameters)
            .ProducesAdminProblem(StatusCodes.Status400BadRequest, StatusCodes.Status404NotFound);
        return admin;
    }

    private static async Task<Results<Created<CustomerDto>, AdminProblem>> CreateAsync(
        string org, HttpContext context, ICustomerStore customers, CustomerDirectory directory, IGatewayStore store, IOptionsMonitor<GatewayOptions> options, TimeProvider time, CancellationToken cancellationToken)
    {
        var now = KeyRules.ToStoredPrecision(time.GetUtcNow());
        var (customer, error) = await AdminRequests.ReadAsync(context.Request, allowEmpty: false, (body, errors) => ParseCreate(body, org, options.CurrentValue, now, errors));
        if (error is not null)
        {
            return error;
        }

        if (await store.GetOrganizationAsync(org, cancellationToken) is null)
        {
            return AdminProblems.NotFound($"Organization '{org}' does not exist.");
        }

        await customers.CreateAsync(customer!, CustomerAudit.Entry(null, customer, AdminActor.From(context), now), cancellationToken);
        directory.Invalidate(org, customer!.Id);
        return TypedResults.Created((string?)null, CustomerDto.From(customer));
    }

    private static async Task<Results<Ok<ListDto<CustomerDto>>, AdminProblem>> ListAsync(string org, HttpContext context, ICustomerStore customers, IGatewayStore store, CancellationToken cancellationToken)
    {
        if (!AdminListPages.TryRead(context.Request.Query, "customers", 1, out var request, out var problem))
        {
            return problem!;
        }

        if (await store.GetOrganizationAsync(org, cancellationToken) is null)
        {
            return AdminProblems.NotFound($"Organization '{org}' does not exist.");
        }

        var read = await customers.ListAfterAsync(org, request.After?[0], AdminListPages.ReadCount(request), cancellationToken);
        return TypedResults.Ok(AdminListPages.Page(read, request, "customers", c => [c.Id], CustomerDto.From));
    }

    private static async Task<Results<Ok<CustomerDto>, AdminProblem>> GetAsync(string org, string id, ICustomerStore customers, CancellationToken cancellationToken) =>
        await customers.GetAsync(org, id, cancellationToken) is { } customer
            ? TypedResults.Ok(CustomerDto.From(customer))
            : NotFound(org, id);

    private static async Task<Results<Ok<CustomerDto>, AdminProblem>> PatchAsync(
        string org, string id, HttpContext context, ICustomerStore customers, CustomerDirectory directory, IOptionsMonitor<GatewayOptions> options, TimeProvider time, CancellationToken cancellationToken)
    {
        var existing = await customers.GetAsync(org, id, cancellationToken);
        if (existing is null)
        {
            return NotFound(org, id);
        }

        var now = KeyRules.ToStoredPrecision(time.GetUtcNow());
        var (updated, error) = await AdminRequests.ReadAsync(context.Request, allowEmpty: false, (body, errors) => ParsePatch(body, existing, options.CurrentValue, now, errors));
        if (error is not null)
        {
            return error;
        }

        // As with keys: a PATCH that changes nothing writes nothing and is not audited.
        if (!CustomerAudit.Changed(existing, updated!))
        {
            return TypedResults.Ok(CustomerDto.From(existing));
        }

        if (!await customers.UpdateAsync(updated!, CustomerAudit.Entry(existing, updated, AdminActor.From(context), now), cancellationToken))
        {
            return NotFound(org, id);
        }

        directory.Invalidate(org, id);
        return TypedResults.Ok(CustomerDto.From(updated!));
    }

    private static async Task<Results<NoContent, AdminProblem>> DeleteAsync(
        string org, string id, HttpContext context, ICustomerStore customers, CustomerDirectory directory, IGatewayStore store, TimeProvider time, CancellationToken cancellationToken)
    {
        if (await customers.GetAsync(org, id, cancellationToken) is not { } existing)
        {
            return NotFound(org, id);
        }

        var now = time.GetUtcNow();
        var active = (await store.ListKeysAsync(org, cancellationToken)).Count(k => k.CustomerId == id && k.StatusAt(now) == KeyStatus.Active);
        if (active > 0)
        {
            return AdminProblems.Conflict($"Customer '{id}' has {active} active key(s); revoke, deactivate or move them first.");
        }

        await customers.DeleteAsync(org, id, CustomerAudit.Entry(existing, null, AdminActor.From(context), now), cancellationToken);
        directory.Invalidate(org, id);
        return TypedResults.NoContent();
    }

    /// <summary>As the key usage: request counts of the customer's keys per interval, plus the quota's current period.</summary>
    private static async Task<Results<Ok<UsageReportDto>, AdminProblem>> UsageAsync(
        string org, string id, HttpContext context, ICustomerStore customers, IGatewayStore store, UsageQueries queries, IQuotaCounter counter,
        IOptionsMonitor<GatewayOptions> options, TimeProvider time, CancellationToken cancellationToken)
    {
        if (!UsageApi.TryReadRange(context.Request.Query, time.GetUtcNow(), out var range, out var error))
        {
            return error;
        }

        var customer = await customers.GetAsync(org, id, cancellationToken);
        if (customer is null)
        {
            return NotFound(org, id);
        }

        var now = time.GetUtcNow();
        var keys = (await store.ListKeysAsync(org, cancellationToken)).Where(k => k.CustomerId == id).ToList();
        var report = await queries.ReadAsync(UsageSubjectKind.Key, keys.Select(k => k.Id).ToList(), range.From, range.To, range.Granularity, cancellationToken);
        var perKey = keys
            .Select(k => new UsageKeyDto(k.Id, k.Name, k.Prefix, k.StatusAt(now).ToString().ToLowerInvariant(), UsageCountsDto.From(report.BySubject[k.Id])))
            .OrderByDescending(k => k.Usage.Total)
            .ThenBy(k => k.Name, StringComparer.Ordinal)
            .ToList();

        QuotaUsageDto? quota = null;
        if (LimitCharger.EffectiveQuota(customer, options.CurrentValue) is { } q)
        {
            var charge = LimitCharger.QuotaCharge(customer, q, null, 0, now);
            // What was counted, also above a limit lowered since: the counter keeps it, and it is what a raised limit
            // is measured against (30 used under a quota lowered to 20 reads 30, and a raise to 40 admits 10).
            var used = Math.Max(0, await counter.UsedAsync(charge.Partition, cancellationToken));
            quota = new QuotaUsageDto(q.Limit, QuotaPeriods.Name(q.Period), QuotaPeriods.Start(q.Period, now), charge.ResetAt!.Value, used, Math.Max(0, q.Limit - used));
        }

        return TypedResults.Ok(UsageReportDto.Create(report, org, null, perKey, routes: false) with { CustomerId = id, Quota = quota });
    }

    private static AdminProblem NotFound(string org, string id) => AdminProblems.NotFound($"Customer '{id}' does not exist in organization '{org}'.");

    private static Customer? ParseCreate(JsonElement body, string org, GatewayOptions options, DateTimeOffset now, ValidationErrors errors)
    {
        JsonFields.RejectUnknown(body, errors, CreateFields);
        var (idPresent, id) = JsonFields.String(body, "id", errors, maxLength: 128);
        if (!idPresent)
        {
            errors.Add("id", "Required.");
        }
        else if (id is not null && !JsonFields.CustomerId().IsMatch(id))
        {
            errors.Add("id", "Must match ^[A-Za-z0-9_.:@-]{1,128}$.");
        }
        else if (id is "." or "..")
        {
            // As a path segment these are dot segments, which URLs resolve away: the customer could never be read,
            // changed or deleted through /admin/orgs/{org}/customers/{id}.
            errors.Add("id", "Must not be '.' or '..': a URL cannot name them.");
        }

        var name = Name(body, errors, required: true);
        var plan = Plan(body, options, errors);
        var rateLimit = KeysApi.RateLimit(body, errors);
        var quota = Quota(body, errors);
        return errors.Any ? null : new Customer(org, id!, name!, plan.Value, rateLimit.Value, quota.Value, now, now);
    }

    private static Customer? ParsePatch(JsonElement body, Customer existing, GatewayOptions options, DateTimeOffset now, ValidationErrors errors)
    {
        if (body.TryGetProperty("id", out _))
        {
            errors.Add("id", "A customer's id cannot be changed.");
        }

        JsonFields.RejectUnknown(body, errors, [.. PatchFields, "id"]);
        var name = Name(body, errors, required: false);
        var plan = Plan(body, options, errors);
        var rateLimit = KeysApi.RateLimit(body, errors);
        var quota = Quota(body, errors);
        return errors.Any
            ? null
            : existing with
            {
                Name = name ?? existing.Name,
                Plan = plan.Present ? plan.Value : existing.Plan,
                RateLimit = rateLimit.Present ? rateLimit.Value : existing.RateLimit,
                Quota = quota.Present ? quota.Value : existing.Quota,
                UpdatedAt = now,
            };
    }

    private static string? Name(JsonElement body, ValidationErrors errors, bool required)
    {
        var (present, name) = JsonFields.String(body, "name", errors, maxLength: 200);
        if (!present && required)
        {
            errors.Add("name", "Required.");
        }
        else if (present && string.IsNullOrWhiteSpace(name))
        {
            errors.Add("name", "Must not be empty.");
        }

        return name;
    }

    private static (bool Present, string? Value) Plan(JsonElement body, GatewayOptions options, ValidationErrors errors)
    {
        var (present, plan) = JsonFields.String(body, "plan", errors, allowNull: true, maxLength: 64);
        if (plan is not null && !options.Plans.ContainsKey(plan))
        {
            errors.Add("plan", options.Plans.Count == 0
                ? "No plans are configured (Gateway:Plans)."
                : $"Unknown plan '{plan}'. Plans: {string.Join(", ", options.Plans.Keys.Order(StringComparer.Ordinal))}.");
        }

        return (present, plan);
    }

    private static (bool Present, CustomerQuota? Value) Quota(JsonElement body, ValidationErrors errors)
    {
        if (!body.TryGetProperty("quota", out var value))
        {
            return (false, null);
        }

        if (value.ValueKind == JsonValueKind.Null)
        {
            return (true, null);
        }

        if (value.ValueKind != JsonValueKind.Object)
        {
            errors.Add("quota", "Must be an object {\"limit\": 1000, \"period\": \"day\"|\"month\"} or null.");
            return (true, null);
        }

        var nested = new ValidationErrors();
        JsonFields.RejectUnknown(value, nested, QuotaFields);
        long? limit = null;
        if (!value.TryGetProperty("limit", out var l))
        {
            nested.Add("limit", "Required.");
        }
        else if (l.ValueKind != JsonValueKind.Number || !l.TryGetInt64(out var n) || n < 1 || n > QuotaRules.MaxLimit)
        {
            nested.Add("limit", $"Must be a whole number from 1 to {QuotaRules.MaxLimit}.");
        }
        else
        {
            limit = n;
        }

        var period = JsonFields.Period(value, "period", nested);
        errors.AddNested("quota.", nested);
        return nested.Any ? (true, null) : (true, new CustomerQuota(limit!.Value, period!.Value));
    }
}

internal sealed record QuotaDto(long Limit, string Period);

/// <summary>The customer object of the admin API.</summary>
internal sealed record CustomerDto(string Id, string OrgId, string Name, string? Plan, RateLimitDto? RateLimit, QuotaDto? Quota, DateTimeOffset CreatedAt, DateTimeOffset UpdatedAt)
{
    public static CustomerDto From(Customer c) => new(
        c.Id,
        c.OrgId,
        c.Name,
        c.Plan,
        c.RateLimit is { } r ? new RateLimitDto(r.PermitLimit, r.Window.ToString("c", CultureInfo.InvariantCulture)) : null,
        c.Quota is { } q ? new QuotaDto(q.Limit, QuotaPeriods.Name(q.Period)) : null,
        c.CreatedAt,
        c.UpdatedAt);
}

/// <summary>The quota's current period: what the customer used of it and what is left.</summary>
internal sealed record QuotaUsageDto(long Limit, string Period, DateTimeOffset PeriodStart, DateTimeOffset ResetAt, long Used, long Remaining);

/// <summary><c>POST /admin/orgs/{org}/customers</c>.</summary>
internal sealed record CreateCustomerRequest(string Id, string Name, string? Plan = null, RateLimitDto? RateLimit = null, QuotaDto? Quota = null);

/// <summary><c>PATCH /admin/orgs/{org}/customers/{id}</c>: only the members sent change; null clears an optional one.</summary>
internal sealed record PatchCustomerRequest(string Name = null!, string? Plan = null, RateLimitDto? RateLimit = null, QuotaDto? Quota = null);
