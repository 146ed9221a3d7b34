using System.Globalization;
using Gateway.Http;

namespace Gateway.RateLimiting;

/// <summary>
/// What the two limit stages share for one request: its limits and their states (the IP limit, at
/// <see cref="LimitSlot.Ip"/>, is taken by <see cref="IpRateLimitMiddleware"/>) and the state reported in
/// <c>X-RateLimit-*</c>. It is also the state of the response's OnStarting callback, so nothing is boxed. One object per request, or, when the counter
/// keeps no reference to a batch after deciding, one per HTTP/1.x connection, reset for each request.
/// </summary>
internal sealed class RateLimitFeature : LimitBatch
{
    private static readonly Func<object, Task> WriteHeadersCallback = static state => ((RateLimitFeature)state).WriteHeaders();
    private static readonly object ItemKey = new();

    private HttpResponse _response;
    private int _reported = -1;

    private RateLimitFeature(HttpResponse response) => _response = response;

    /// <summary>
    /// The feature for <paramref name="context"/>'s request. With <paramref name="reuse"/> (the counter
    /// holds no batch past a decision), a kept-alive HTTP/1.x connection reuses one: its previous request,
    /// OnStarting callback included, has finished before this one is read.
    /// </summary>
    public static RateLimitFeature For(HttpContext context, bool reuse)
    {
        if (!reuse || SequentialConnection.Items(context) is not { } items)
        {
            return new RateLimitFeature(context.Response);
        }

        if (items.TryGetValue(ItemKey, out var existing) && existing is RateLimitFeature feature)
        {
            feature.Reset(context.Response);
            return feature;
        }

        feature = new RateLimitFeature(context.Response);
        items[ItemKey] = feature;
        return feature;
    }

    /// <summary>
    /// Reports the limit with the fewest permits left among [from, to). The headers are written as the
    /// response starts, after YARP has copied the upstream's headers, so an upstream's own X-RateLimit-*
    /// can neither replace nor duplicate ours.
    /// </summary>
    public void Report(int from, int to)
    {
        var best = from;
        for (var i = from + 1; i < to; i++)
        {
            if (Tighter(i, best))
            {
                best = i;
            }
        }

        Report(best);
    }

    public void Report(int index)
    {
        if (_reported < 0)
        {
            _response.OnStarting(WriteHeadersCallback, this);
        }

        _reported = index;
    }

    /// <summary>The refused limit that takes longest to give a permit back (Retry-After must cover every refused limit).</summary>
    public int LongestRefused(int from, int to)
    {
        var longest = -1;
        for (var i = from; i < to; i++)
        {
            if (!State(i).Allowed && (longest < 0 || State(i).ResetAfter > State(longest).ResetAfter))
            {
                longest = i;
            }
        }

        return longest;
    }

    private void Reset(HttpResponse response)
    {
        _response = response;
        _reported = -1;
        Clear();
    }

    /// <summary>Whole seconds, rounded up and at least 1: a client that waits this long will find a permit.</summary>
    public static long Seconds(TimeSpan value) => Math.Max(1, (long)Math.Ceiling(value.TotalSeconds));

    private bool Tighter(int a, int b)
    {
        ref var x = ref State(a);
        ref var y = ref State(b);
        if (x.Allowed != y.Allowed)
        {
            return !x.Allowed;
        }

        return x.Remaining != y.Remaining ? x.Remaining < y.Remaining : Spec(a).PermitLimit < Spec(b).PermitLimit;
    }

    private Task WriteHeaders()
    {
        ref var state = ref State(_reported);
        var headers = _response.Headers;
        headers["X-RateLimit-Limit"] = LimitText(Spec(_reported).PermitLimit);
        headers["X-RateLimit-Remaining"] = Text(Math.Max(0, state.Remaining));
        headers["X-RateLimit-Reset"] = Text(Seconds(state.ResetAfter));
        return Task.CompletedTask;
    }

    private static readonly string[] SmallNumbers = [.. Enumerable.Range(0, 1024).Select(i => i.ToString(CultureInfo.InvariantCulture))];

    // A limit is a setting, the same on request after request, and often above the small numbers: its text
    // is kept in one of a few slots instead of being formatted for every response.
    private static readonly NumberText?[] LimitTexts = new NumberText?[8];

    internal static string LimitText(int value)
    {
        if (value < SmallNumbers.Length)
        {
            return Text(value);
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

    private sealed record NumberText(int Value, string Text);

    private static string Text(long value) => value is >= 0 and < 1024 ? SmallNumbers[value] : value.ToString(CultureInfo.InvariantCulture);
}
