namespace Gateway.Http;

/// <summary>
/// Holds the problem <c>code</c> the gateway answered a request with, for whoever records the request
/// afterwards (usage counting, the access log). The access log installs its own entry as this feature
/// up front, so a refusal writes into it instead of allocating.
/// </summary>
internal class ProblemCodeFeature
{
    public string? Code { get; set; }
}
