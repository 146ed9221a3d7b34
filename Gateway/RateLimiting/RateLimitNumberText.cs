using System.Globalization;

namespace Gateway.RateLimiting;

/// <summary>
/// The decimal text of the numbers in rate-limit headers, without formatting one per response: small
/// numbers come from a table, and a limit (a setting, the same on request after request) from a few
/// cached slots.
/// </summary>
internal static class RateLimitNumberText
{
    private static readonly string[] SmallNumbers = [.. Enumerable.Range(0, 1024).Select(i => i.ToString(CultureInfo.InvariantCulture))];

    // A limit is often above the small numbers: its text is kept in one of a few slots instead of being
    // formatted for every response.
    private static readonly NumberText?[] LimitTexts = new NumberText?[8];

    public static string Limit(int value)
    {
        if (value < SmallNumbers.Length)
        {
            return Of(value);
        }

        ref var slot = ref LimitTexts[(int)((uint)value * 2654435769u >> 29)];
        if (slot is { } cached && cached.Value == value)
        {
            return cached.Text;
        }

        var text = value.ToString(CultureInfo.InvariantCulture);
        slot = new NumberText(value, text);
        return text;
    }

    public static string Of(long value) => value is >= 0 and < 1024 ? SmallNumbers[value] : value.ToString(CultureInfo.InvariantCulture);

    private sealed record NumberText(int Value, string Text);
}
