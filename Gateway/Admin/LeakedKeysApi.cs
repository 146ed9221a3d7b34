using System.Text.Json;
using Gateway.Configuration;
using Gateway.SecretScanning;
using Microsoft.Extensions.Options;

namespace Gateway.Admin;

/// <summary>
/// <c>POST /admin/leaked-keys</c>: an operator who found keys in a log file pastes them here; each one
/// that is ours is handled exactly as a secret-scanning report would handle it.
/// </summary>
internal static class LeakedKeysApi
{
    private static readonly string[] Fields = ["tokens", "url", "source"];

    public static RouteGroupBuilder MapLeakedKeysApi(this RouteGroupBuilder admin)
    {
        admin.MapPost("/leaked-keys", ReportAsync).WithTags("Keys");
        return admin;
    }

    private static async Task<IResult> ReportAsync(HttpContext context, LeakedKeyReporter reporter, IOptionsMonitor<GatewayOptions> options)
    {
        var (reports, error) = await AdminRequests.ReadAsync(context.Request, allowEmpty: false, Parse);
        if (error is not null)
        {
            return error;
        }

        var action = LeakActions.Configured(options.CurrentValue.SecretScanning.Action);
        var feedback = await reporter.HandleAsync(reports!, action, AdminActor.From(context), context.RequestAborted);
        var items = feedback.Select(f => new Dictionary<string, object?>
        {
            ["token_hash"] = f.TokenHash,
            ["label"] = f.Label,
            ["keyId"] = f.KeyId,
            ["outcome"] = f.Outcome switch
            {
                Keys.LeakOutcome.Handled => "handled",
                Keys.LeakOutcome.AlreadyHandled => "already_handled",
                _ => "not_ours",
            },
        }).ToList();
        return Results.Json(new Dictionary<string, object?> { ["items"] = items });
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
