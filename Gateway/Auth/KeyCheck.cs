using Gateway.Domain;
using Gateway.Http;

namespace Gateway.Auth;

/// <summary>What <see cref="KeyCheck"/> found: no problem (the key may be used), or the first refusal and its detail.</summary>
internal readonly record struct KeyVerdict(ProblemCode? Problem, string? Detail)
{
    public static KeyVerdict Allowed => default;

    public bool IsAllowed => Problem is null;
}

/// <summary>
/// The rules a found key must pass, in the order the proxy applies them: the presented key's hash (current, or
/// previous within a rotation's grace period), the demo organization, status, environment, scopes. Written once
/// for the proxy's authentication stage and the verify API, so both give the same answer for the same key.
/// </summary>
internal static class KeyCheck
{
    /// <summary>
    /// Whether the hash <paramref name="key"/> was found by is its current hash, or its previous one still in its grace
    /// period (decided when the key was cached for that hash, see <see cref="CachedKey"/>).
    /// </summary>
    public static bool Matches(CachedKey? key, DateTimeOffset now) => key is not null && key.OpensAt(now);

    public static KeyVerdict Decide(CachedKey? key, DateTimeOffset now, bool demoRoute, string environment, IReadOnlyList<string> requiredScopes)
    {
        if (!Matches(key, now))
        {
            return new(ProblemCodes.InvalidKey, "The API key is not valid.");
        }

        // The demo organization's keys are printed to a console and saved in a file: they open the demo's
        // own routes and nothing else, and nothing at all once the demo is off (then no route is a demo
        // route). An ordinal compare of a short string; the route check runs only for such keys.
        if (!demoRoute && string.Equals(key!.OrgId, RoutePolicy.DemoOrganizationId, StringComparison.Ordinal))
        {
            return new(ProblemCodes.InvalidKey, "Keys of the 'demo' organization open only the built-in demo's routes.");
        }

        switch (key!.StatusAt(now))
        {
            case KeyStatus.Revoked:
                return new(ProblemCodes.KeyRevoked, "The API key has been revoked.");
            case KeyStatus.Inactive:
                return new(ProblemCodes.KeyInactive, "The API key is deactivated.");
            case KeyStatus.Expired:
                return new(ProblemCodes.KeyExpired, "The API key has expired.");
        }

        if (!string.Equals(key.Environment, environment, StringComparison.Ordinal))
        {
            return new(ProblemCodes.WrongEnvironment, $"This endpoint serves {environment}; the key is for {key.Environment}.");
        }

        foreach (var scope in requiredScopes)
        {
            if (!key.HasScope(scope))
            {
                return new(ProblemCodes.InsufficientScope, $"This endpoint requires the scopes: {string.Join(' ', requiredScopes)}.");
            }
        }

        return KeyVerdict.Allowed;
    }
}
