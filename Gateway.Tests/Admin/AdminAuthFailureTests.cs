using System.Net;
using System.Net.Http.Headers;
using Gateway.Keys;
using Gateway.Tests.Common;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Time.Testing;

namespace Gateway.Tests.Admin;

/// <summary>
/// Failed admin authentications are logged with the caller's address and never with what it presented,
/// and after Admin:FailedAttempts:PermitLimit failures an address gets 429 with Retry-After until the
/// window has passed, even with the right token.
/// </summary>
public sealed class AdminAuthFailureTests
{
    private const string Guess = "guess-0123456789-abcdef";

    [Test]
    public async Task AdminApi_RepeatedWrongTokens_LoggedWithAddress_Then429WithRetryAfterUntilWindowEnds()
    {
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        var logs = new CapturingLoggerProvider();
        await using var gateway = await GatewayHost.StartAsync(
            new Dictionary<string, string?>
            {
                ["Gateway:Admin:FailedAttempts:PermitLimit"] = "3",
                ["Gateway:Admin:FailedAttempts:Window"] = "00:01:00",
            },
            services =>
            {
                services.AddSingleton<TimeProvider>(time);
                logs.AddTo(services);
            });
        using var guesser = new HttpClient { BaseAddress = gateway.AdminUrl };

        for (var i = 0; i < 3; i++)
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, "admin/orgs");
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", Guess + i);

            using var refused = await guesser.SendAsync(request);
            Assert.That(refused.StatusCode, Is.EqualTo(HttpStatusCode.Unauthorized), $"attempt {i + 1}");
        }

        // The allowance is used up: the right token from that address is refused too.
        using (var throttled = await gateway.Admin.GetAsync("admin/orgs"))
        {
            Assert.That(throttled.StatusCode, Is.EqualTo(HttpStatusCode.TooManyRequests));
            Assert.That((await GatewayHost.ProblemAsync(throttled))["code"]!.GetValue<string>(), Is.EqualTo("admin_throttled"));
            Assert.That(throttled.Headers.RetryAfter?.Delta, Is.EqualTo(TimeSpan.FromSeconds(60)));
        }

        using (var health = await gateway.Admin.GetAsync("healthz"))
        {
            Assert.That(health.StatusCode, Is.EqualTo(HttpStatusCode.OK), "probes need no token and are not throttled");
        }

        var failures = logs.Entries.Where(e => e.Category == "Gateway.Admin.AdminTokenFilter" && e.Level == LogLevel.Warning).Select(e => e.Message).ToList();
        Assert.That(failures.Count(m => m.StartsWith("Admin authentication failed from 127.0.0.1", StringComparison.Ordinal)), Is.EqualTo(3), string.Join("\n", failures));
        Assert.That(failures, Has.Some.Contains("Too many failed admin authentications from 127.0.0.1"));
        Assert.That(logs.Entries.Select(e => e.Message), Has.None.Contains(Guess), "what was presented is never logged");

        time.Advance(TimeSpan.FromSeconds(59));
        using (var still = await gateway.Admin.GetAsync("admin/orgs"))
        {
            Assert.That(still.StatusCode, Is.EqualTo(HttpStatusCode.TooManyRequests));
            Assert.That(still.Headers.RetryAfter?.Delta, Is.EqualTo(TimeSpan.FromSeconds(1)));
        }

        time.Advance(TimeSpan.FromSeconds(1));
        using var again = await gateway.Admin.GetAsync("admin/orgs");
        Assert.That(again.StatusCode, Is.EqualTo(HttpStatusCode.OK));
    }

    // A client that puts a key or a token where an id belongs (or pastes one into the URL) must not get it into the logs:
    // the refusal lines name the endpoint's route pattern, never the path as sent.
    [Test]
    public async Task RefusedAdminCalls_KeyOrTokenInThePath_LogTheRoutePatternNotThePath()
    {
        var logs = new CapturingLoggerProvider(LogLevel.Debug);
        await using var gateway = await GatewayHost.StartAsync(services: services =>
        {
            logs.AddTo(services);

            // As shipped: while this category can log, ASP.NET Core puts the raw path in a scope around every line.
            services.Configure<LoggerFilterOptions>(o => o.Rules.Add(new LoggerFilterRule(typeof(CapturingLoggerProvider).FullName, "Microsoft.AspNetCore.Hosting.Diagnostics", LogLevel.None, null)));
        });
        var key = ApiKeyFormat.Generate("gw", "production");
        var token = Gateway.Operators.OperatorTokenFormat.NewToken();
        using var caller = new HttpClient { BaseAddress = gateway.AdminUrl };

        async Task RefusedAsync(string path, Action<HttpRequestMessage> configure, HttpStatusCode expected)
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, path);
            configure(request);
            using var response = await caller.SendAsync(request);
            Assert.That(response.StatusCode, Is.EqualTo(expected), path);
        }

        await RefusedAsync($"admin/keys/{key}/usage", r => r.Headers.Authorization = new AuthenticationHeaderValue("Bearer", Guess), HttpStatusCode.Unauthorized);
        await RefusedAsync($"admin/keys/{token}", r => r.Headers.Authorization = new AuthenticationHeaderValue("Bearer", Guess), HttpStatusCode.Unauthorized);
        await RefusedAsync($"admin/keys/{key}/usage", r => r.Headers.TryAddWithoutValidation("Authorization", "Basic x"), HttpStatusCode.Unauthorized);
        await RefusedAsync($"admin/keys/{key}/usage", _ => { }, HttpStatusCode.Unauthorized);
        await RefusedAsync($"admin/keys/{key}/usage", r => r.Headers.Add("Sec-Fetch-Site", "cross-site"), HttpStatusCode.Forbidden);

        // The gateway's own lines, scopes included; the framework's Debug lines (routing's) carry the raw path whatever
        // the gateway does (docs/observability.md).
        var lines = logs.Entries.Where(e => e.Category.StartsWith("Gateway.", StringComparison.Ordinal)).Select(e => e.Text).ToList();
        Assert.That(lines.Count(l => l.Contains("/admin/keys/{id}/usage", StringComparison.Ordinal)), Is.EqualTo(4), string.Join("\n", lines));
        Assert.That(lines, Has.Some.Contains("/admin/keys/{id}"));
        foreach (var secret in new[] { key, key[^38..^6], token, token[4..] })
        {
            Assert.That(lines, Has.None.Contains(secret), "a key or token in the path is never logged");
        }
    }

    [TestCase(StoreKind.Sqlite)]
    [TestCase(StoreKind.Redis)]
    public async Task Audit_RecordsCallerAddress(StoreKind store)
    {
        await using var gateway = await GatewayHost.StartAsync(store: store);
        var org = await gateway.CreateOrgAsync("acme");
        await gateway.AdminPostAsync($"admin/keys/{org["defaultKey"]!["id"]!.GetValue<string>()}/rotate");

        var audit = await gateway.AdminGetAsync("admin/audit?org=acme");

        var items = audit["items"]!.AsArray();
        Assert.That(items.Select(i => i!["action"]!.GetValue<string>()), Is.EqualTo(new[] { "key.rotate", "org.create" }));
        Assert.That(items.Select(i => i!["callerAddress"]?.GetValue<string>()), Is.All.EqualTo("127.0.0.1"));
    }
}
