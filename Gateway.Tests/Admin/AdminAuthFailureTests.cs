using System.Net;
using System.Net.Http.Headers;
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
