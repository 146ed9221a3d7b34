using System.Net;
using Gateway.Auth;
using Gateway.Configuration;
using Gateway.Domain;
using Gateway.Http;
using Gateway.Keys;
using Gateway.Observability;
using Gateway.RateLimiting;
using Gateway.Stores;
using Gateway.Usage;
using Microsoft.Extensions.Options;

namespace Gateway.Verify;

/// <summary>A parsed verify call: the key, the environment and scopes it must serve, and whether to charge.</summary>
internal sealed record VerifyInput(string Key, string? Environment, IReadOnlyList<string> Scopes, int Cost, bool Charge, IPAddress? ClientIp);

/// <summary>
/// The verify API's decision: what a proxied request with this key would get, step for step the proxy's
/// (format, the key cache, <see cref="KeyCheck"/>, the key's allowed CIDRs when a client address is given, then
/// the request stage's limits, quota and credits charged all together through <see cref="LimitCharger"/>). Without
/// <c>charge</c> the limits are asked and their permits given back at once, so the answer says whether the
/// request would be admitted without spending anything. A charged call is counted in usage as a proxied request.
/// </summary>
internal sealed partial class KeyVerifier(
    KeyResolver resolver,
    KeyUsageTracker usage,
    IRateLimitCounter counter,
    LimitCharger charger,
    IQuotaCounter quotas,
    UsageCounters counts,
    IOptionsMonitor<GatewayOptions> options,
    TimeProvider time,
    ILogger<KeyVerifier> logger)
{
    private static readonly VerifyKeyResponse Unknown = Refusal(ProblemCodes.InvalidKey);
    private static readonly VerifyKeyResponse Unavailable = Refusal(ProblemCodes.StoreUnavailable);

    // Read once, as the proxy pipeline reads Gateway:Usage:Enabled once when it is built.
    private readonly UsageCounters? _counts = options.CurrentValue.Usage.Enabled ? counts : null;

    /// <param name="callerOrg">The caller's organization; a key of any other one answers exactly as an unknown key.</param>
    public async ValueTask<VerifyKeyResponse> VerifyAsync(VerifyInput input, string? callerOrg, CancellationToken cancellationToken)
    {
        var answer = await DecideAsync(input, callerOrg, cancellationToken);

        // A charged call spends what a proxied request would (limits, quota, credits), so it is counted as one: else a
        // customer billed from usage was billed less than its quota counted. Refusals too, which spend nothing, as the
        // proxy's are. An uncharged call spends nothing and is not a request served: not counted.
        if (input.Charge)
        {
            _counts?.RecordVerify(answer.KeyId, answer.OrgId, answer.Code);
        }

        return answer;
    }

    private async ValueTask<VerifyKeyResponse> DecideAsync(VerifyInput input, string? callerOrg, CancellationToken cancellationToken)
    {
        // A malformed key or a failed checksum never reaches the cache or the store.
        if (!ApiKeyFormat.IsWellFormed(input.Key))
        {
            return Unknown;
        }

        var digest = ApiKeyFormat.Digest(input.Key);
        CachedKey? key;
        try
        {
            key = await resolver.ResolveAsync(digest, time.GetUtcNow(), cancellationToken);
        }
        catch (StoreUnavailableException ex)
        {
            Log.StoreUnavailable(logger, ex);
            return Unavailable;
        }

        var now = time.GetUtcNow();

        // Before any rule that would name the key: another organization's key, revoked or not, is unknown here.
        if (!KeyCheck.Matches(key, now) || (callerOrg is not null && !string.Equals(key!.OrgId, callerOrg, StringComparison.Ordinal)))
        {
            return Unknown;
        }

        // No route here, so never the demo's: the demo organization's keys verify as unknown, as they fail on every other route.
        var environment = input.Environment ?? options.CurrentValue.Environment;
        var verdict = KeyCheck.Decide(key, now, demoRoute: false, environment, input.Scopes);
        if (!verdict.IsAllowed)
        {
            return ReferenceEquals(verdict.Problem, ProblemCodes.InvalidKey) ? Unknown : Describe(key!, verdict.Problem, null);
        }

        if (input.ClientIp is { } ip && key!.AllowedCidrs.Count > 0 && !AllowedCidrs.Allows(key.AllowedCidrs, ip))
        {
            return Describe(key, ProblemCodes.IpNotAllowed, null);
        }

        return await ChargeAsync(key!, input, now, cancellationToken);
    }

    private async ValueTask<VerifyKeyResponse> ChargeAsync(CachedKey key, VerifyInput input, DateTimeOffset now, CancellationToken cancellationToken)
    {
        // The same limits the proxy's request stage charges after the IP limit (workspace, customer, key, then the
        // customer's quota and the key's credits), all or nothing, through the same charger. Slot Ip stays empty:
        // the client's IP limit belongs to the proxy listener, and the caller here is a service, not the client.
        var batch = new VerifyBatch { Count = LimitSlot.AfterIp };
        batch.Quotas.GivenBack = !input.Charge;
        var outcome = await charger.ChargeAsync(batch, key, policyName: null, input.Cost, LimitSlot.AfterIp, cancellationToken);

        // What a refusal gave back to Redis is back before the caller hears of it.
        await batch.GivenBackAsync();
        if (outcome == ChargeOutcome.RateLimited)
        {
            var refused = batch.LongestRefused(LimitSlot.AfterIp, batch.Count);
            return Describe(key, ProblemCodes.RateLimited, RateLimitOf(batch, refused, given: 0), QuotaOf(batch, 0), CreditsOf(batch, 0));
        }

        var tightest = batch.Tightest(LimitSlot.AfterIp, batch.Count);
        if (outcome != ChargeOutcome.Allowed)
        {
            // The charger has given the rate limits back already; nothing of the quota or credits was taken.
            var code = outcome == ChargeOutcome.QuotaExceeded ? ProblemCodes.QuotaExceeded : ProblemCodes.CreditsExhausted;
            return Describe(key, code, RateLimitOf(batch, tightest, given: 1), QuotaOf(batch, 0), CreditsOf(batch, 0));
        }

        if (!input.Charge)
        {
            counter.Release(batch, LimitSlot.AfterIp, batch.Count);
            await batch.GivenBackAsync();
            for (var i = 0; i < batch.Quotas.Count; i++)
            {
                var charge = batch.Quotas.Charges[i];
                if (charge.Cost > 0)
                {
                    try
                    {
                        await quotas.AdjustAsync(charge.Partition, -charge.Cost, charge.ExpiresAt, CancellationToken.None);
                    }
                    catch (Exception ex) when (ex is not OperationCanceledException)
                    {
                        // The answer stands; the unit stays counted, which errs towards refusing, never towards over-admitting.
                        Log.GiveBackFailed(logger, charge.Partition, ex);
                    }
                }
            }

            return Describe(key, null, RateLimitOf(batch, tightest, given: 1), QuotaOf(batch, input.Cost), CreditsOf(batch, input.Cost));
        }

        usage.Record(key.Id, now);
        return Describe(key, null, RateLimitOf(batch, tightest, given: 0), QuotaOf(batch, 0), CreditsOf(batch, 0));
    }

    private static VerifyQuotaDto? QuotaOf(LimitBatch batch, int given)
    {
        var index = batch.Quotas.IndexOf(QuotaKind.Quota);
        if (index < 0)
        {
            return null;
        }

        var charge = batch.Quotas.Charges[index];
        var reset = RateLimitHeaders.Seconds((charge.ResetAt ?? batch.Quotas.Now) - batch.Quotas.Now);
        return new VerifyQuotaDto(charge.Limit, Math.Max(0, charge.Remaining) + given, reset);
    }

    private static VerifyCreditsDto? CreditsOf(LimitBatch batch, int given)
    {
        var index = batch.Quotas.IndexOf(QuotaKind.Credits);
        return index < 0 ? null : new VerifyCreditsDto(Math.Max(0, batch.Quotas.Charges[index].Remaining) + given);
    }

    /// <param name="given">Permits given back after the decision (1 when nothing was charged), added to what it left.</param>
    private static VerifyRateLimitDto RateLimitOf(LimitBatch batch, int index, int given)
    {
        ref var spec = ref batch.Spec(index);
        ref var state = ref batch.State(index);
        return new VerifyRateLimitDto(spec.PermitLimit, Math.Max(0, state.Remaining) + given, RateLimitHeaders.Seconds(state.ResetAfter));
    }

    private static VerifyKeyResponse Describe(CachedKey key, ProblemCode? problem, VerifyRateLimitDto? rateLimit, VerifyQuotaDto? quota = null, VerifyCreditsDto? credits = null) => new(
        problem is null, problem?.Code, key.Id, key.OrgId, key.Name, key.Scopes, key.Environment, key.CustomerId, rateLimit, quota, credits);

    private static VerifyKeyResponse Refusal(ProblemCode problem) => new(false, problem.Code, null, null, null, null, null, null, null, null, null);

    private sealed class VerifyBatch : LimitBatch;

    private static partial class Log
    {
        [LoggerMessage(EventId = EventIds.VerifyGiveBackFailed, Level = LogLevel.Warning, Message = "A check-only verify call could not give back its unit of {Partition}; it stays counted.")]
        public static partial void GiveBackFailed(ILogger logger, string partition, Exception exception);

        [LoggerMessage(EventId = EventIds.VerifyStoreUnavailable, Level = LogLevel.Warning, Message = "Key store unavailable; a verify call for a key not in cache answers store_unavailable.")]
        public static partial void StoreUnavailable(ILogger logger, Exception exception);
    }
}
