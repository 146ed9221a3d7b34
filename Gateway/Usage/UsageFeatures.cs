using System.Collections.Concurrent;
using Gateway.Keys;

namespace Gateway.Usage;

/// <summary>
/// The problem code a proxy stage answered with. One immutable instance per code is shared by all
/// requests, so marking a refusal costs no allocation.
/// </summary>
internal sealed class ProblemCodeFeature
{
    private static readonly ConcurrentDictionary<string, ProblemCodeFeature> Instances = new(StringComparer.Ordinal);

    private ProblemCodeFeature(string code) => Code = code;

    public string Code { get; }

    public static ProblemCodeFeature For(string code) => Instances.GetOrAdd(code, static c => new ProblemCodeFeature(c));
}

/// <summary>
/// A key that was found but refused (revoked, expired, inactive, wrong environment, missing scope):
/// its owner should see those refusals in their usage, although the request never authenticated.
/// </summary>
internal sealed class RefusedKeyFeature(ApiKeyRecord key)
{
    public ApiKeyRecord Key { get; } = key;
}
