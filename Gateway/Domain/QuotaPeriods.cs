using System.Globalization;

namespace Gateway.Domain;

/// <summary>A calendar period of a quota or a credit refill, in UTC.</summary>
public enum QuotaPeriod
{
    Day,
    Month,
}

/// <summary>
/// Calendar arithmetic for quota periods, written once: where the period holding an instant starts and
/// ends (UTC, so a month is its real length, leap days included, never 30 days), and the period's name in
/// counter keys.
/// </summary>
internal static class QuotaPeriods
{
    public static bool TryParse(string? text, out QuotaPeriod period)
    {
        switch (text)
        {
            case "day": period = QuotaPeriod.Day; return true;
            case "month": period = QuotaPeriod.Month; return true;
            default: period = default; return false;
        }
    }

    public static string Name(QuotaPeriod period) => period == QuotaPeriod.Day ? "day" : "month";

    public static DateTimeOffset Start(QuotaPeriod period, DateTimeOffset at)
    {
        var utc = at.UtcDateTime;
        return period == QuotaPeriod.Day
            ? new DateTimeOffset(utc.Year, utc.Month, utc.Day, 0, 0, 0, TimeSpan.Zero)
            : new DateTimeOffset(utc.Year, utc.Month, 1, 0, 0, 0, TimeSpan.Zero);
    }

    /// <summary>The first instant of the next period (exclusive end).</summary>
    public static DateTimeOffset End(QuotaPeriod period, DateTimeOffset at)
    {
        var start = Start(period, at);
        return period == QuotaPeriod.Day ? start.AddDays(1) : start.AddMonths(1);
    }

    /// <summary>The period's name in counter keys: <c>d20250131</c> or <c>m202501</c>.</summary>
    public static string Key(QuotaPeriod period, DateTimeOffset at)
    {
        var utc = at.UtcDateTime;
        return period == QuotaPeriod.Day
            ? "d" + utc.ToString("yyyyMMdd", CultureInfo.InvariantCulture)
            : "m" + utc.ToString("yyyyMM", CultureInfo.InvariantCulture);
    }
}

/// <summary>
/// A key's prepaid credits as an operator last set them: <see cref="Remaining"/> at <see cref="SetAt"/>,
/// and an optional refill. What has been spent since lives in the limiter's counters, under
/// <see cref="Epoch"/>, so setting credits again starts a fresh count.
/// </summary>
public sealed record KeyCredits(long Remaining, CreditRefill? Refill, string Epoch, DateTimeOffset SetAt);

/// <summary>At the start of each <see cref="Period"/> (UTC) the balance becomes <see cref="Amount"/>.</summary>
public sealed record CreditRefill(long Amount, QuotaPeriod Period);

/// <summary>Bounds of quotas and credits, checked by settings validation and the admin API alike.</summary>
internal static class QuotaRules
{
    public const long MaxLimit = 1_000_000_000_000;
}
