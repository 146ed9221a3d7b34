using System.Text.Json;
using System.Text.Json.Serialization;
using Gateway.Stores;
using Gateway.Usage;
using Microsoft.AspNetCore.Http.HttpResults;

namespace Gateway.Admin;

/// <summary>Usage per key, per organization and, for requests without a known key, per route (docs/usage.md).</summary>
internal static class UsageApi
{
    /// <summary>What <see cref="TryReadRange"/> reads, for the document.</summary>
    internal static readonly AdminQueryParameter[] RangeParameters =
    [
        AdminQueryParameter.Time("from", "Start of the range (ISO 8601); default: one hour, day or 30 days (by granularity) before 'to'."),
        AdminQueryParameter.Time("to", "End of the range (ISO 8601); default: the end of the current interval."),
        new("granularity", "Interval width (default hour).") { Values = ["minute", "hour", "day"] },
    ];

    public static RouteGroupBuilder MapUsageApi(this RouteGroupBuilder admin)
    {
        admin.MapGet("/keys/{id}/usage", KeyAsync).WithTags("Usage").WithName("GetKeyUsage")
            .RequireAdminRole(AdminRole.Viewer, OrgFrom.Key("id"))
            .WithQueryParameters(RangeParameters)
            .ProducesAdminProblem(StatusCodes.Status400BadRequest, StatusCodes.Status404NotFound);
        admin.MapGet("/orgs/{org}/usage", OrgAsync).WithTags("Usage").WithName("GetOrgUsage")
            .RequireAdminRole(AdminRole.Viewer, OrgFrom.Route("org"))
            .WithQueryParameters(RangeParameters)
            .ProducesAdminProblem(StatusCodes.Status400BadRequest, StatusCodes.Status404NotFound);
        admin.MapGet("/usage/routes", RoutesAsync).WithTags("Usage").WithName("GetRouteUsage")
            .RequireAdminRole(AdminRole.Viewer, OrgFrom.All)
            .WithQueryParameters(RangeParameters)
            .ProducesAdminProblem(StatusCodes.Status400BadRequest);
        return admin;
    }

    private static async Task<Results<Ok<UsageReportDto>, AdminProblem>> KeyAsync(string id, HttpContext context, IGatewayStore store, UsageQueries queries, TimeProvider time, CancellationToken cancellationToken)
    {
        if (!TryReadRange(context.Request.Query, time.GetUtcNow(), out var range, out var error))
        {
            return error;
        }

        var key = await store.GetKeyAsync(id, cancellationToken);
        if (key is null)
        {
            return AdminProblems.NotFound($"Key '{id}' does not exist.");
        }

        var report = await queries.ReadAsync(UsageSubjectKind.Key, [key.Id], range.From, range.To, range.Granularity, cancellationToken);
        return TypedResults.Ok(UsageReportDto.Create(report, key.OrgId, key.Id, keys: null, routes: false));
    }

    private static async Task<Results<Ok<UsageReportDto>, AdminProblem>> OrgAsync(string org, HttpContext context, IGatewayStore store, UsageQueries queries, TimeProvider time, CancellationToken cancellationToken)
    {
        if (!TryReadRange(context.Request.Query, time.GetUtcNow(), out var range, out var error))
        {
            return error;
        }

        if (await store.GetOrganizationAsync(org, cancellationToken) is null)
        {
            return AdminProblems.NotFound($"Organization '{org}' does not exist.");
        }

        var keys = await store.ListKeysAsync(org, cancellationToken);
        var report = await queries.ReadAsync(UsageSubjectKind.Key, keys.Select(k => k.Id).ToList(), range.From, range.To, range.Granularity, cancellationToken);
        var now = time.GetUtcNow();
        var perKey = keys
            .Select(k => new UsageKeyDto(k.Id, k.Name, k.Prefix, k.StatusAt(now).ToString().ToLowerInvariant(), UsageCountsDto.From(report.BySubject[k.Id])))
            .OrderByDescending(k => k.Usage.Total)
            .ThenBy(k => k.Name, StringComparer.Ordinal)
            .ToList();
        return TypedResults.Ok(UsageReportDto.Create(report, org, null, perKey, routes: false));
    }

    private static async Task<Results<Ok<UsageReportDto>, AdminProblem>> RoutesAsync(HttpContext context, UsageQueries queries, TimeProvider time, CancellationToken cancellationToken)
    {
        if (!TryReadRange(context.Request.Query, time.GetUtcNow(), out var range, out var error))
        {
            return error;
        }

        var report = await queries.ReadAsync(UsageSubjectKind.Route, null, range.From, range.To, range.Granularity, cancellationToken);
        return TypedResults.Ok(UsageReportDto.Create(report, null, null, null, routes: true));
    }

    /// <summary>Reads <c>from</c>, <c>to</c> and <c>granularity</c>; defaults: hourly, the 24 hours up to the current one included.</summary>
    internal static bool TryReadRange(IQueryCollection query, DateTimeOffset now, out (DateTimeOffset From, DateTimeOffset To, UsageGranularity Granularity) range, out AdminProblem error)
    {
        range = default;
        error = null!;
        var errors = new ValidationErrors();
        var granularity = UsageGranularity.Hour;
        if (query.TryGetValue("granularity", out var g))
        {
            switch (g.ToString())
            {
                case "minute": granularity = UsageGranularity.Minute; break;
                case "hour": granularity = UsageGranularity.Hour; break;
                case "day": granularity = UsageGranularity.Day; break;
                default: errors.Add("granularity", "Must be minute, hour or day."); break;
            }
        }

        // By default up to the end of the current interval, so requests of this very minute show.
        var to = ReadTime(query, "to", errors) ?? UsageQueries.Floor(now, granularity) + UsageQueries.Width(granularity);
        var from = ReadTime(query, "from", errors) ?? to - DefaultSpan(granularity);
        if (!errors.Any && from >= to)
        {
            errors.Add("from", "Must be before 'to'.");
        }

        // Counted as the answer lists them, between the rounded ends: exactly MaxIntervals is allowed.
        if (!errors.Any && (UsageQueries.Ceiling(to, granularity) - UsageQueries.Floor(from, granularity)).Ticks / UsageQueries.Width(granularity).Ticks > UsageQueries.MaxIntervals)
        {
            errors.Add("granularity", $"The range holds more than {UsageQueries.MaxIntervals} intervals at this granularity; use a coarser one or a shorter range.");
        }

        if (errors.Any)
        {
            error = AdminProblems.Validation(errors);
            return false;
        }

        range = (from, to, granularity);
        return true;
    }

    private static TimeSpan DefaultSpan(UsageGranularity granularity) => granularity switch
    {
        UsageGranularity.Minute => TimeSpan.FromHours(1),
        UsageGranularity.Hour => TimeSpan.FromDays(1),
        _ => TimeSpan.FromDays(30),
    };

    private static DateTimeOffset? ReadTime(IQueryCollection query, string name, ValidationErrors errors)
    {
        var parsed = JsonFields.QueryTime(query, name, errors);
        if (parsed is { Year: < 2000 or > 9000 })
        {
            errors.Add(name, "Must be between the years 2000 and 9000.");
            return null;
        }

        return parsed;
    }
}

/// <summary>Counts by outcome (only outcomes that occurred) and their sum.</summary>
internal sealed record UsageCountsDto(long Total, IReadOnlyDictionary<string, long> Counts)
{
    public static UsageCountsDto From(UsageTally tally)
    {
        var counts = new Dictionary<string, long>(StringComparer.Ordinal);
        for (var i = 0; i < tally.Counts.Length; i++)
        {
            if (tally.Counts[i] != 0)
            {
                counts[UsageOutcomes.All[i]] = tally.Counts[i];
            }
        }

        return new UsageCountsDto(tally.Total, counts);
    }
}

internal sealed record UsageIntervalDto(DateTimeOffset Start, long Total, IReadOnlyDictionary<string, long> Counts);

internal sealed record UsageKeyDto(string KeyId, string Name, string Prefix, string Status, UsageCountsDto Usage);

internal sealed record UsageRouteDto(string RouteId, UsageCountsDto Usage);

internal sealed record UsageReportDto(
    string? OrgId,
    string? KeyId,
    DateTimeOffset From,
    DateTimeOffset To,
    string Granularity,
    IReadOnlyList<string> Outcomes,
    UsageCountsDto Totals,
    IReadOnlyList<UsageIntervalDto> Intervals)
{
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public IReadOnlyList<UsageKeyDto>? Keys { get; init; }

    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public IReadOnlyList<UsageRouteDto>? Routes { get; init; }

    /// <summary>Set by a customer's usage: whose it is.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? CustomerId { get; init; }

    /// <summary>Set by a customer's usage when a quota applies: its current period.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public QuotaUsageDto? Quota { get; init; }

    internal static UsageReportDto Create(UsageReport report, string? orgId, string? keyId, IReadOnlyList<UsageKeyDto>? keys, bool routes) => new(
        orgId,
        keyId,
        report.From,
        report.To,
        report.Granularity.ToString().ToLowerInvariant(),
        UsageOutcomes.All,
        UsageCountsDto.From(report.Totals),
        report.Intervals.Select(i => { var c = UsageCountsDto.From(i.Tally); return new UsageIntervalDto(i.Start, c.Total, c.Counts); }).ToList())
    {
        Keys = keys,
        Routes = routes
            ? report.BySubject.Select(s => new UsageRouteDto(s.Key, UsageCountsDto.From(s.Value))).OrderByDescending(r => r.Usage.Total).ThenBy(r => r.RouteId, StringComparer.Ordinal).ToList()
            : null,
    };
}

[JsonSourceGenerationOptions(JsonSerializerDefaults.Web, WriteIndented = false)]
[JsonSerializable(typeof(UsageReportDto))]
internal sealed partial class UsageJsonContext : JsonSerializerContext;
