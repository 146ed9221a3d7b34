using Gateway.Http;

namespace Gateway.RateLimiting;

/// <summary>
/// What the two limit stages share for one request: its limits and their states (the IP limit, at
/// <see cref="LimitSlot.Ip"/>, is taken by <see cref="IpRateLimitMiddleware"/>) and the limit reported in
/// <c>X-RateLimit-*</c> (written by <see cref="RateLimitHeaders"/>). It is also the state of the
/// response's OnStarting callback, so nothing is boxed. One object per request, or, when the counter
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
        Report(Tightest(from, to));
    }

    public void Report(int index)
    {
        if (_reported < 0)
        {
            _response.OnStarting(WriteHeadersCallback, this);
        }

        _reported = index;
    }

    private void Reset(HttpResponse response)
    {
        _response = response;
        _reported = -1;
        Clear();
    }

    private Task WriteHeaders()
    {
        RateLimitHeaders.Write(_response.Headers, in Spec(_reported), in State(_reported));
        if (QuotasDecided)
        {
            RateLimitHeaders.WriteQuotas(_response.Headers, in Quotas);
        }

        return Task.CompletedTask;
    }
}
