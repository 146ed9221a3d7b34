using Gateway.Domain;
using Gateway.Keys;
using Gateway.RateLimiting;

namespace Gateway.Admin;

/// <summary>
/// The key object as a client or a webhook receiver sees it: the stored record, with the credits' live balance
/// (what the counters have left, not the amount last set) and the use this instance has not written yet. Every
/// response and event payload that carries a key object renders it here, so none shows the stale stored values.
/// </summary>
internal sealed class KeyViews(IQuotaCounter counter, KeyUsageTracker usage, TimeProvider time)
{
    /// <summary>Reads the credits' counter, so it may fail as the counter's store does.</summary>
    public async Task<KeyDto> ViewAsync(ApiKeyRecord key, CancellationToken cancellationToken, string? plaintext = null)
    {
        var now = time.GetUtcNow();
        var dto = KeyDto.From(key, now, usage.Pending(key.Id), plaintext);
        if (key.Credits is not { } credits || dto.Credits is null)
        {
            return dto;
        }

        var charge = LimitCharger.CreditsCharge(key, credits, 0, now);
        var used = await counter.UsedAsync(charge.Partition, cancellationToken);
        return dto with { Credits = dto.Credits with { Remaining = Math.Max(0, charge.Limit - used) } };
    }
}
