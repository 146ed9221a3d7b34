using System.Runtime.CompilerServices;
using Yarp.ReverseProxy.Configuration;

namespace Gateway.Http;

/// <summary>
/// The gateway's reading of a YARP route's <c>Metadata</c> (docs/configuration.md), parsed once per route
/// config instance; a config reload brings new instances, so nothing here goes stale.
/// </summary>
internal sealed class RoutePolicy
{
    public const string RequiredScopesKey = "RequiredScopes";
    public const string EnvironmentKey = "Environment";
    public const string AnonymousKey = "Anonymous";
    public const string RateLimitPolicyKey = "RateLimitPolicy";
    public const string CostKey = "Cost";

    /// <summary>
    /// Every metadata key the gateway reads. A key not in this list stops start-up and is refused on reload
    /// (RouteMetadataValidator): a misspelt <c>RequiredScope</c> would otherwise leave the route open to every key.
    /// A new setting is one more entry here.
    /// </summary>
    public static readonly IReadOnlySet<string> KnownKeys = System.Collections.Frozen.FrozenSet.ToFrozenSet(
        [RequiredScopesKey, EnvironmentKey, AnonymousKey, RateLimitPolicyKey, CostKey],
        StringComparer.OrdinalIgnoreCase);

    /// <summary>The organization the first-run demo creates; its keys open only the demo's own routes.</summary>
    public const string DemoOrganizationId = "demo";

    private static readonly ConditionalWeakTable<RouteConfig, RoutePolicy> Cache = new();
    private static readonly RoutePolicy Empty = new([], null, false, null);

    private RoutePolicy(IReadOnlyList<string> requiredScopes, string? environment, bool anonymous, string? rateLimitPolicy, bool demo = false, int cost = 1)
    {
        Cost = cost;
        Demo = demo;
        RequiredScopes = requiredScopes;
        Environment = environment;
        Anonymous = anonymous;
        RateLimitPolicy = rateLimitPolicy;
    }

    public IReadOnlyList<string> RequiredScopes { get; }

    public string? Environment { get; }

    public bool Anonymous { get; }

    public string? RateLimitPolicy { get; }

    /// <summary>What an admitted request of this route takes from its customer's quota and its key's credits (metadata <c>Cost</c>, default 1).</summary>
    public int Cost { get; }

    /// <summary>
    /// One of the built-in demo's routes. Set only by <see cref="MarkDemo"/> on the route instances the demo
    /// creates in code, never from metadata, so no configured route can claim it.
    /// </summary>
    public bool Demo { get; }

    public static RoutePolicy For(RouteConfig route) =>
        route.Metadata is null or { Count: 0 } ? Empty : Cache.GetValue(route, static r => Parse(r.Metadata!));

    /// <summary>Marks a route instance the demo created in code as a demo route (it must carry metadata).</summary>
    public static void MarkDemo(RouteConfig route)
    {
        var parsed = Parse(route.Metadata ?? throw new ArgumentException("A demo route carries metadata.", nameof(route)));
        Cache.AddOrUpdate(route, new RoutePolicy(parsed.RequiredScopes, parsed.Environment, parsed.Anonymous, parsed.RateLimitPolicy, demo: true, cost: parsed.Cost));
    }

    internal static RoutePolicy Parse(IReadOnlyDictionary<string, string> metadata)
    {
        metadata.TryGetValue(RequiredScopesKey, out var scopes);
        metadata.TryGetValue(EnvironmentKey, out var environment);
        metadata.TryGetValue(AnonymousKey, out var anonymous);
        metadata.TryGetValue(RateLimitPolicyKey, out var policy);
        metadata.TryGetValue(CostKey, out var cost);
        return new RoutePolicy(
            SplitScopes(scopes),
            string.IsNullOrWhiteSpace(environment) ? null : environment.Trim(),
            bool.TryParse(anonymous, out var a) && a,
            string.IsNullOrWhiteSpace(policy) ? null : policy.Trim(),
            cost: TryParseCost(cost, out var c) ? c : 1);
    }

    /// <summary>A route's <c>Cost</c>: a whole number from 0 to 1,000,000.</summary>
    internal static bool TryParseCost(string? text, out int cost) =>
        int.TryParse(text, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out cost) && cost <= MaxCost;

    public const int MaxCost = 1_000_000;

    internal static string[] SplitScopes(string? scopes) =>
        string.IsNullOrWhiteSpace(scopes) ? [] : scopes.Split(' ', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
}
