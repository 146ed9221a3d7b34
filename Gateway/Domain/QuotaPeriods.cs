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
    public static DateTimeOffset End(QuotaPeriod period, DateTimeOffset at) => Holding(period, at).EndAt;

    /// <summary>The period's name in counter keys: <c>d20250131</c> or <c>m202501</c>.</summary>
    public static string Key(QuotaPeriod period, DateTimeOffset at) => Holding(period, at).Key;

    // The day and the month now: every metered request asks for them, and formatting a date for each one was a
    // measurable part of what a quota cost. Only a later period replaces the remembered one (racing writers
    // store equal values); an instant outside it is computed each time.
    private static PeriodSpan s_day = Compute(QuotaPeriod.Day, DateTimeOffset.UnixEpoch);
    private static PeriodSpan s_month = Compute(QuotaPeriod.Month, DateTimeOffset.UnixEpoch);

    private static PeriodSpan Holding(QuotaPeriod period, DateTimeOffset at)
    {
        var remembered = period == QuotaPeriod.Day ? s_day : s_month;
        var ticks = at.UtcTicks;
        if (ticks >= remembered.StartTicks && ticks < remembered.EndAt.UtcTicks)
        {
            return remembered;
        }

        var span = Compute(period, at);
        if (span.StartTicks < remembered.StartTicks)
        {
            // An earlier period (a credit's set time): answered, not remembered, so "now" stays the cached one.
            return span;
        }

        if (period == QuotaPeriod.Day)
        {
            s_day = span;
        }
        else
        {
            s_month = span;
        }

        return span;
    }

    private static PeriodSpan Compute(QuotaPeriod period, DateTimeOffset at)
    {
        var start = Start(period, at);
        var key = period == QuotaPeriod.Day
            ? "d" + start.UtcDateTime.ToString("yyyyMMdd", CultureInfo.InvariantCulture)
            : "m" + start.UtcDateTime.ToString("yyyyMM", CultureInfo.InvariantCulture);
        return new PeriodSpan(start.UtcTicks, period == QuotaPeriod.Day ? start.AddDays(1) : start.AddMonths(1), key);
    }

    private sealed record PeriodSpan(long StartTicks, DateTimeOffset EndAt, string Key);
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
