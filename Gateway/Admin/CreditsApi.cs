using System.Text.Json;
using Gateway.Domain;
using Gateway.Keys;
using Gateway.RateLimiting;
using Gateway.Stores;
using Microsoft.AspNetCore.Http.HttpResults;

namespace Gateway.Admin;

/// <summary>
/// <c>POST /admin/keys/{id}/credits</c>: set, add to or subtract from a key's credits, audited as
/// <c>key.credits</c>.
/// </summary>
internal static class CreditsApi
{
    private static readonly string[] Fields = AdminRequests.Members(AdminJsonContext.Default.CreditsRequest);

    public static RouteGroupBuilder MapCreditsApi(this RouteGroupBuilder admin)
    {
        admin.MapPost("/keys/{id}/credits", ChangeAsync).WithTags("Keys").WithName("ChangeKeyCredits")
            .RequireAdminRole(AdminRole.Admin, OrgFrom.Key("id"))
            .AcceptsAdminBody<CreditsRequest>()
            .ProducesAdminProblem(StatusCodes.Status400BadRequest, StatusCodes.Status404NotFound, StatusCodes.Status409Conflict, StatusCodes.Status413PayloadTooLarge);
        return admin;
    }

    /// <summary>
    /// Credits set afresh start a new counter (a new epoch): the old one is never read again, so it is given an expiry
    /// of a day (a request admitted under it meanwhile still lands in it), instead of staying in the store for good.
    /// </summary>
    public static async Task RetireOldCreditsAsync(ApiKeyRecord before, ApiKeyRecord after, IQuotaCounter counter, TimeProvider time)
    {
        if (before.Credits is not { } old || old.Epoch == after.Credits?.Epoch)
        {
            return;
        }

        var now = time.GetUtcNow();
        var charge = LimitCharger.CreditsCharge(before, old, 0, now);
        try
        {
            await counter.AdjustAsync(charge.Partition, 0, now.AddDays(1), CancellationToken.None);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            // The change stands; the old counter just stays until its own expiry, if it has one.
        }
    }

    private static async Task<Results<Ok<KeyDto>, AdminProblem>> ChangeAsync(
        string id, HttpContext context, IGatewayStore store, KeyManager manager, IQuotaCounter counter, KeyViews views, TimeProvider time, CancellationToken cancellationToken)
    {
        var (request, error) = await AdminRequests.ReadAsync(context.Request, allowEmpty: false, Parse);
        if (error is not null)
        {
            return error;
        }

        var key = await store.GetKeyAsync(id, cancellationToken);
        if (key is null)
        {
            return AdminProblems.NotFound($"Key '{id}' does not exist.");
        }

        var (op, amount) = request!.Value;
        ApiKeyRecord saved;
        if (op == "set")
        {
            long? before = null;
            if (key.Credits is { } old)
            {
                var oldCharge = LimitCharger.CreditsCharge(key, old, 0, time.GetUtcNow());
                before = Math.Max(0, oldCharge.Limit - await counter.UsedAsync(oldCharge.Partition, cancellationToken));
            }

            saved = await AdminWrites.RunAsync(context, ct => manager.RecordCreditsAsync(key, op, amount, before, amount, AdminActor.From(context), ct));
            await RetireOldCreditsAsync(key, saved, counter, time);
        }
        else
        {
            if (key.Credits is not { } credits)
            {
                return AdminProblems.Conflict($"Key '{id}' has no credits; set them first ({{\"op\":\"set\",\"amount\":N}}).", "op");
            }

            if (key.State == KeyState.Revoked)
            {
                return AdminProblems.Conflict("A revoked key cannot be changed.");
            }

            // Applied to the live counter atomically, so units spent meanwhile on any instance are not lost.
            var charge = LimitCharger.CreditsCharge(key, credits, 0, time.GetUtcNow());
            var usedAfter = await counter.AdjustAsync(charge.Partition, op == "add" ? -amount : amount, charge.ExpiresAt, cancellationToken);
            if (op == "add" && charge.Limit - usedAfter > QuotaRules.MaxLimit)
            {
                // Known only once applied (the counter is shared and live): taken back, so a balance never exceeds what set allows.
                await counter.AdjustAsync(charge.Partition, amount, charge.ExpiresAt, CancellationToken.None);
                return AdminProblems.Invalid("amount", $"The balance would exceed {QuotaRules.MaxLimit}.");
            }

            var usedBefore = op == "add" ? usedAfter + amount : usedAfter - amount;
            saved = await AdminWrites.RunAsync(context, ct => manager.RecordCreditsAsync(
                key, op, amount, Math.Max(0, charge.Limit - usedBefore), Math.Max(0, charge.Limit - usedAfter), AdminActor.From(context), ct));
        }

        return TypedResults.Ok(await views.ViewAsync(saved, cancellationToken));
    }

    private static (string Op, long Amount)? Parse(JsonElement body, ValidationErrors errors)
    {
        JsonFields.RejectUnknown(body, errors, Fields);
        var (present, op) = JsonFields.String(body, "op", errors, maxLength: 16);
        if (!present)
        {
            errors.Add("op", "Required.");
        }
        else if (op is not ("set" or "add" or "subtract"))
        {
            errors.Add("op", "Must be set, add or subtract.");
        }

        var amount = KeysApi.Amount(body, "amount", errors, required: true);
        return errors.Any ? null : (op!, amount!.Value);
    }
}

/// <summary><c>POST /admin/keys/{id}/credits</c>.</summary>
internal sealed record CreditsRequest(string Op, long Amount);
