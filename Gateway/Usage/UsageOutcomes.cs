using System.Collections.Frozen;
using Gateway.Http;

namespace Gateway.Usage;

/// <summary>
/// What became of one proxied request, named after the gateway's problem codes so a usage chart and
/// a client's error speak the same language. Each request counts under exactly one outcome.
/// </summary>
public static class UsageOutcomes
{
    public const string Allowed = "allowed";
    public const string Upstream5xx = "upstream_5xx";

    /// <summary>The client went away before the answer began (499 in the metrics and the access log).</summary>
    public const string ClientAborted = "client_aborted";

    /// <summary>Every outcome, in the order the admin API and the console list them.</summary>
    public static readonly IReadOnlyList<string> All =
    [
        Allowed,
        ProblemCodes.MissingKey.Code,
        ProblemCodes.InvalidKey.Code,
        ProblemCodes.KeyExpired.Code,
        ProblemCodes.KeyRevoked.Code,
        ProblemCodes.KeyInactive.Code,
        ProblemCodes.WrongEnvironment.Code,
        ProblemCodes.InsufficientScope.Code,
        ProblemCodes.IpNotAllowed.Code,
        ProblemCodes.RateLimited.Code,
        ProblemCodes.QuotaExceeded.Code,
        ProblemCodes.CreditsExhausted.Code,
        ProblemCodes.StoreUnavailable.Code,
        ProblemCodes.BodyTooLarge.Code,
        ProblemCodes.BadRequest.Code,
        ClientAborted,
        Upstream5xx,
    ];

    public static int Count => All.Count;

    public const int AllowedIndex = 0;

    public static readonly int Upstream5xxIndex = All.Count - 1;

    internal static readonly int ClientAbortedIndex = All.Count - 2;

    private static readonly FrozenDictionary<string, int> Indexes = All
        .Select((name, index) => KeyValuePair.Create(name, index))
        .ToFrozenDictionary(StringComparer.Ordinal);

    /// <summary>The index of a problem code; upstream failures fold into <c>upstream_5xx</c>; -1 for codes not counted.</summary>
    public static int IndexOf(string code) =>
        code == ProblemCodes.UpstreamUnreachable.Code || code == ProblemCodes.UpstreamTimeout.Code ? Upstream5xxIndex
        : Indexes.TryGetValue(code, out var index) ? index : -1;

    public static bool IsKnown(string outcome) => Indexes.ContainsKey(outcome);
}
