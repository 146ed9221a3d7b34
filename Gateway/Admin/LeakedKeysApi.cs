using System.Text.Json;
using System.Text.Json.Serialization;
using Gateway.SecretScanning;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Extensions.Options;

namespace Gateway.Admin;

/// <summary>
/// <c>POST /admin/leaked-keys</c>: an operator who found keys in a log file pastes them here; each one
/// that is ours is handled exactly as a secret-scanning report would handle it.
/// </summary>
internal static class LeakedKeysApi
{
    private static readonly string[] Fields = AdminRequests.Members(AdminJsonContext.Default.LeakedKeysRequest);

    public static RouteGroupBuilder MapLeakedKeysApi(this RouteGroupBuilder admin)
    {
        admin.MapPost("/leaked-keys", ReportAsync).WithTags("Keys").WithName("ReportLeakedKeys")
            .RequireAdminRole(AdminRole.Admin, OrgFrom.All)
            .AcceptsAdminBody<LeakedKeysRequest>()
            .ProducesAdminProblem(StatusCodes.Status400BadRequest, StatusCodes.Status409Conflict, StatusCodes.Status413PayloadTooLarge);
        return admin;
    }

    private static async Task<Results<Ok<LeakedKeysResponse>, AdminProblem>> ReportAsync(HttpContext context, LeakedKeyReporter reporter, IOptionsMonitor<SecretScanningOptions> options)
    {
        var (reports, error) = await AdminRequests.ReadAsync(context.Request, allowEmpty: false, Parse);
        if (error is not null)
        {
            return error;
        }

        var action = LeakActions.Configured(options.CurrentValue.Action);
        var feedback = await AdminWrites.RunAsync(context, ct => reporter.HandleAsync(reports!, action, AdminActor.From(context), ct));
        var items = feedback.Select(f => new LeakedKeyDto(
            f.TokenHash,
            f.Label,
            f.KeyId,
            f.Outcome switch
            {
                Keys.LeakOutcome.Handled => "handled",
                Keys.LeakOutcome.AlreadyHandled => "already_handled",
                _ => "not_ours",
            })).ToList();
        return TypedResults.Ok(new LeakedKeysResponse(items));
    }

    private static List<LeakReport>? Parse(JsonElement body, ValidationErrors errors)
    {
        JsonFields.RejectUnknown(body, errors, Fields);
        var (_, url) = JsonFields.String(body, "url", errors, allowNull: true, maxLength: 500);
        var (_, source) = JsonFields.String(body, "source", errors, allowNull: true, maxLength: 200);
        if (!body.TryGetProperty("tokens", out var tokens) || tokens.ValueKind != JsonValueKind.Array || tokens.GetArrayLength() == 0)
        {
            errors.Add("tokens", "Required: a non-empty array of strings.");
            return null;
        }

        if (tokens.GetArrayLength() > LeakedKeyReporter.MaxTokens)
        {
            errors.Add("tokens", $"At most {LeakedKeyReporter.MaxTokens} tokens per call.");
            return null;
        }

        var reports = new List<LeakReport>();
        var index = 0;
        foreach (var token in tokens.EnumerateArray())
        {
            if (token.ValueKind != JsonValueKind.String || token.GetString() is not { Length: > 0 and <= 1000 } text)
            {
                errors.Add($"tokens[{index}]", "Must be a non-empty string of at most 1000 characters.");
                return null;
            }

            reports.Add(new LeakReport(text.Trim(), "manual", url, source ?? "admin"));
            index++;
        }

        return errors.Any ? null : reports;
    }
}

/// <summary><c>POST /admin/leaked-keys</c>: 1 to <see cref="LeakedKeyReporter.MaxTokens"/> tokens as found.</summary>
internal sealed record LeakedKeysRequest(IReadOnlyList<string> Tokens, string? Url = null, string? Source = null);

internal sealed record LeakedKeysResponse(IReadOnlyList<LeakedKeyDto> Items);

/// <summary>One token's outcome: handled, already_handled or not_ours. <c>token_hash</c> keeps the secret-scanning feedback's spelling.</summary>
internal sealed record LeakedKeyDto([property: JsonPropertyName("token_hash")] string TokenHash, string Label, string? KeyId, string Outcome);
