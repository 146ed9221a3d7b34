namespace Gateway.Http;

/// <summary>
/// A feature that records each proxied request (the request log, the access log) without a pipeline stage of its own.
/// The proxy's outcome stage, first in the pipeline, calls every enabled observer: each stage of its own awaited the
/// rest of the pipeline again, which cost an async frame and a continuation per request and per feature.
/// </summary>
internal interface IProxyRequestObserver
{
    /// <summary>Read once, when the pipeline is built: a disabled observer is never called.</summary>
    bool IsEnabled { get; }

    /// <summary>Before the rest of the pipeline runs.</summary>
    void Starting(HttpContext context, in ProxyRequestStart start);

    /// <summary>
    /// Once the answer is final (its status, and the problem code of a refusal, are set), also when a later stage
    /// threw. Must not throw.
    /// </summary>
    void Completed(HttpContext context, in ProxyRequestStart start);
}

/// <summary>When a proxied request reached the pipeline: a timestamp for its duration and the time it is recorded at.</summary>
internal readonly record struct ProxyRequestStart(long Timestamp, DateTimeOffset Time);
