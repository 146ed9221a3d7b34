using System.Collections.Concurrent;

namespace Gateway.Http;

/// <summary>
/// The problem code a proxy stage answered with, for stages that look at the outcome afterwards (usage
/// counting). One immutable instance per code is shared by all requests, so setting it allocates nothing.
/// </summary>
internal sealed class ProblemCodeFeature
{
    private static readonly ConcurrentDictionary<string, ProblemCodeFeature> Instances = new(StringComparer.Ordinal);

    private ProblemCodeFeature(string code) => Code = code;

    public string Code { get; }

    public static ProblemCodeFeature For(string code) => Instances.GetOrAdd(code, static c => new ProblemCodeFeature(c));
}
