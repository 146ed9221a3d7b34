using System.Net;

namespace Gateway.Client;

/// <summary>
/// Any answer of the gateway that is not a success: <see cref="Code"/> is the problem's stable code
/// (docs/problems.md: <c>not_found</c>, <c>invalid_request</c>, <c>admin_forbidden</c>…), or <c>unexpected_response</c>
/// when the body was not problem+json; <see cref="Errors"/> names each invalid field of a 400.
/// </summary>
public sealed class GatewayApiException : Exception
{
    public GatewayApiException(HttpStatusCode status, string code, string message, IReadOnlyDictionary<string, IReadOnlyList<string>>? errors = null, string? requestId = null)
        : base(message)
    {
        Status = status;
        Code = code;
        Errors = errors ?? new Dictionary<string, IReadOnlyList<string>>();
        RequestId = requestId;
    }

    public GatewayApiException()
        : this(HttpStatusCode.InternalServerError, "unexpected_response", "The gateway answered with an error.")
    {
    }

    public GatewayApiException(string message)
        : this(HttpStatusCode.InternalServerError, "unexpected_response", message)
    {
    }

    public GatewayApiException(string message, Exception innerException)
        : base(message, innerException)
    {
        Code = "unexpected_response";
        Errors = new Dictionary<string, IReadOnlyList<string>>();
    }

    public HttpStatusCode Status { get; }

    public string Code { get; }

    public IReadOnlyDictionary<string, IReadOnlyList<string>> Errors { get; }

    /// <summary>The request id the gateway logged the call under, when it said.</summary>
    public string? RequestId { get; }
}
