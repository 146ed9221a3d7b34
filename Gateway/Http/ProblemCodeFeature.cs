namespace Gateway.Http;

/// <summary>
/// Holds the problem <c>code</c> the gateway answered a request with, for whoever records the request
/// afterwards (the access log). Present only when someone asked for it.
/// </summary>
internal class ProblemCodeFeature
{
    public string? Code { get; set; }
}
