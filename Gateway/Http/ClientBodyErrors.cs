using Yarp.ReverseProxy.Forwarder;

namespace Gateway.Http;

/// <summary>
/// Kestrel's refusals of a client's request body, however they reach the code that read it: a
/// <see cref="BadHttpRequestException"/> (bad chunk framing, over the size limit, too slow), or the
/// <see cref="IOException"/> its chunked parser throws, without a status, for a chunk size that overflows.
/// Both are the client's error, answered with a 4xx while the client is still there to read it.
/// </summary>
internal static class ClientBodyErrors
{
    /// <summary>The refusal in <paramref name="exception"/>'s chain, with the status to answer; null when there is none.</summary>
    public static (int Status, string Reason)? Find(Exception? exception)
    {
        for (var e = exception; e is not null; e = e.InnerException)
        {
            switch (e)
            {
                case BadHttpRequestException bad:
                    return (bad.StatusCode, bad.Message);
                case IOException { InnerException: OverflowException }:
                    return (StatusCodes.Status400BadRequest, e.Message);
            }
        }

        return null;
    }

    /// <summary>
    /// Kestrel's refusal of a body whose connection ended before the length it declared: a client that went away
    /// mid-body, not a malformed one. A reset reaches the body read before Kestrel cancels <c>RequestAborted</c>
    /// (it does that on the thread pool), so the token alone misses it. Kestrel's reason code is internal; its
    /// message (not localized) is what tells this refusal apart, and ClientBodyErrorTests fails if it changes.
    /// </summary>
    public static bool EndedMidBody((int Status, string Reason) refused) =>
        refused is { Status: StatusCodes.Status400BadRequest, Reason: "Unexpected end of request content." };

    /// <summary>
    /// Reading the client's body was cancelled while the client was still connected: the forwarder's activity timeout
    /// ran out with no part of the body arriving. YARP reports it as a client error or a cancelled body, with the
    /// cancellation inside (often in an <see cref="AggregateException"/> beside the upstream send's own).
    /// </summary>
    public static bool Stalled(ForwarderError error, Exception? exception) =>
        error is ForwarderError.RequestBodyClient or ForwarderError.RequestBodyCanceled && HoldsCancellation(exception);

    private static bool HoldsCancellation(Exception? exception) => exception switch
    {
        null => false,
        OperationCanceledException => true,
        AggregateException many => many.InnerExceptions.Any(HoldsCancellation),
        _ => HoldsCancellation(exception.InnerException),
    };

    /// <summary>The problem to answer a refusal with: 413 <c>body_too_large</c>, otherwise 400 <c>bad_request</c>.</summary>
    public static ProblemCode ProblemFor((int Status, string Reason) refused) =>
        refused.Status == StatusCodes.Status413PayloadTooLarge ? ProblemCodes.BodyTooLarge : ProblemCodes.BadRequest;
}
