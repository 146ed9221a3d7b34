using Gateway.Configuration;
using Gateway.Domain;
using Gateway.Http;
using Gateway.Keys;
using Gateway.Observability;
using Gateway.Stores;
using Microsoft.Extensions.Options;

namespace Gateway.Auth;

/// <summary>
/// YARP pipeline stage that lets a request through only with a valid key for this route: well formed,
/// known, active, unexpired, in the route's environment and holding the route's scopes. On success the
/// key is published as <see cref="IApiKeyFeature"/>, from which the identity transform
/// (<c>Proxy/IdentityTransformProvider</c>) stamps the upstream request and the request limit stage reads
/// the key's limits. The client's <c>Authorization</c> is never forwarded, on any route (anonymous ones too).
/// </summary>
internal sealed partial class KeyAuthenticationMiddleware(
    RequestDelegate next,
    KeyResolver resolver,
    KeyUsageTracker usage,
    IOptionsMonitor<GatewayOptions> options,
    TimeProvider time,
    GatewayMetrics metrics,
    ILogger<KeyAuthenticationMiddleware> logger)
{
    private const string InvalidToken = "Bearer error=\"invalid_token\"";

    public Task InvokeAsync(HttpContext context)
    {
        var policy = RoutePolicy.For(context.ProxyFeature().Route.Config);
        if (policy.Anonymous)
        {
            context.Request.Headers.Remove(Microsoft.Net.Http.Headers.HeaderNames.Authorization);
            return next(context);
        }

        var authorization = context.Request.Headers.Authorization;
        var memo = authorization.Count == 1 ? ConnectionKeyMemo.For(context) : null;
        if (memo is not null && memo.TryGet(authorization[0]!, out var remembered))
        {
            return AuthenticateAsync(context, remembered, policy);
        }

        var parse = BearerToken.TryParse(authorization, out var token);
        if (parse == BearerParseResult.Missing)
        {
            return RejectAsync(context, ProblemCodes.MissingKey, "Send the key as 'Authorization: Bearer <key>'.", "Bearer");
        }

        if (parse != BearerParseResult.Ok || !ApiKeyFormat.IsWellFormed(token))
        {
            return RejectAsync(context, ProblemCodes.InvalidKey, "The API key is not valid.", InvalidToken);
        }

        var digest = ApiKeyFormat.Digest(token);
        memo?.Remember(authorization[0]!, digest);
        return AuthenticateAsync(context, digest, policy);
    }

    private Task AuthenticateAsync(HttpContext context, KeyDigest digest, RoutePolicy policy)
    {
        // A cached key resolves synchronously: decide and hand on without an async frame of our own.
        var now = time.GetUtcNow();
        var lookup = resolver.ResolveAsync(digest, now, context.RequestAborted);
        return lookup.IsCompletedSuccessfully
            ? Decide(context, lookup.Result, policy, now)
            : AuthenticateSlowAsync(context, lookup, policy);
    }

    private async Task AuthenticateSlowAsync(HttpContext context, ValueTask<CachedKey?> lookup, RoutePolicy policy)
    {
        CachedKey? key;
        try
        {
            key = await lookup;
        }
        catch (StoreUnavailableException ex)
        {
            Log.StoreUnavailable(logger, ex);
            context.Response.Headers.RetryAfter = "1";
            await RejectAsync(context, ProblemCodes.StoreUnavailable, "The key could not be checked; retry shortly.", null);
            return;
        }

        // The store took its time: judge expiry at the time of the answer.
        await Decide(context, key, policy, time.GetUtcNow());
    }

    private Task Decide(HttpContext context, CachedKey? key, RoutePolicy policy, DateTimeOffset now)
    {
        var environment = policy.Environment ?? options.CurrentValue.Environment;
        var verdict = KeyCheck.Decide(key, now, policy.Demo, environment, policy.RequiredScopes);
        if (!verdict.IsAllowed)
        {
            var problem = verdict.Problem!;
            var challenge = ReferenceEquals(problem, ProblemCodes.InsufficientScope)
                ? $"Bearer error=\"insufficient_scope\", scope=\"{string.Join(' ', policy.RequiredScopes)}\""
                : InvalidToken;

            // A key that is not the one presented (unknown, or another key's hash) is nobody's refusal.
            return RejectAsync(context, problem, verdict.Detail!, challenge, KeyCheck.Matches(key, now) ? key : null);
        }

        metrics.AuthDecision("allowed");
        context.SetFeature<IApiKeyFeature>(new ApiKeyFeature(key!));
        usage.Record(key!.Id, now);

        // The identity headers are set on the upstream request (IdentityTransformProvider).
        context.Request.Headers.Remove(Microsoft.Net.Http.Headers.HeaderNames.Authorization);

        return next(context);
    }

    private Task RejectAsync(HttpContext context, ProblemCode problem, string detail, string? challenge, CachedKey? key = null)
    {
        metrics.AuthDecision(problem.Code);
        if (key is not null)
        {
            // The key's owner sees this refusal in their usage although the request did not authenticate.
            context.SetFeature(new RefusedKeyFeature(key));
        }

        if (challenge is not null)
        {
            context.Response.Headers.WWWAuthenticate = challenge;
        }

        return GatewayProblem.WriteAsync(context, problem, detail);
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = EventIds.AuthStoreUnavailable, Level = LogLevel.Warning, Message = "Key store unavailable; answering 503 for a key not in cache.")]
        public static partial void StoreUnavailable(ILogger logger, Exception exception);
    }
}
