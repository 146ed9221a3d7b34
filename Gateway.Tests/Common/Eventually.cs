using System.Diagnostics;

namespace Gateway.Tests.Common;

/// <summary>
/// The one polling loop of the suite: asks until the condition holds and fails the test once
/// <c>within</c> has passed, so no wait is a sleep and none is unbounded. A connection refused while
/// a server comes up counts as "not yet".
/// </summary>
public static class Eventually
{
    private static readonly TimeSpan Interval = TimeSpan.FromMilliseconds(10);

    public static async Task HoldsAsync(Func<Task<bool>> condition, TimeSpan within, string? what = null)
    {
        await ValueAsync(async () => await condition(), static holds => holds, within, what);
    }

    /// <summary>As above, with a failure message made when it fails (to say what was seen last).</summary>
    public static async Task HoldsAsync(Func<Task<bool>> condition, TimeSpan within, Func<string> what)
    {
        await ValueAsync(async () => await condition(), static holds => holds, within, what);
    }

    public static Task HoldsAsync(Func<bool> condition, TimeSpan within, string? what = null) =>
        HoldsAsync(() => Task.FromResult(condition()), within, what);

    /// <summary>Reads until <paramref name="done"/> accepts a value and returns that value.</summary>
    public static Task<T> ValueAsync<T>(Func<Task<T>> read, Func<T, bool> done, TimeSpan within, string? what = null) =>
        ValueAsync(read, done, within, () => what ?? "condition");

    private static async Task<T> ValueAsync<T>(Func<Task<T>> read, Func<T, bool> done, TimeSpan within, Func<string> what)
    {
        var clock = Stopwatch.StartNew();
        while (true)
        {
            try
            {
                var value = await read();
                if (done(value))
                {
                    return value;
                }
            }
            catch (HttpRequestException) when (clock.Elapsed < within)
            {
            }

            if (clock.Elapsed > within)
            {
                Assert.Fail($"{what()} not met within {within}");
            }

            await Task.Delay(Interval);
        }
    }

    /// <summary>For code that cannot await (a fixture's synchronous start).</summary>
    public static void Holds(Func<bool> condition, TimeSpan within, string? what = null)
    {
        var clock = Stopwatch.StartNew();
        while (!condition())
        {
            if (clock.Elapsed > within)
            {
                Assert.Fail($"{what ?? "condition"} not met within {within}");
            }

            Thread.Sleep(Interval);
        }
    }
}
