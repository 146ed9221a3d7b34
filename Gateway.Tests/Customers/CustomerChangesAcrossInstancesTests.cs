using System.Net;
using System.Net.Http.Json;
using Gateway.Tests.Common;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;

namespace Gateway.Tests.Customers;

/// <summary>
/// Two gateway instances sharing one redis-server and one fake clock: a customer changed on one instance is in force
/// on the other for the first request after <c>Cache:FreshFor</c>, so neither instance admits beyond a quota it has
/// been told about (docs/plans-and-quotas.md: "customers are cached like keys").
/// </summary>
[NonParallelizable]
public sealed class CustomerChangesAcrossInstancesTests : UpstreamFixture
{
    private static readonly TimeSpan FreshFor = TimeSpan.FromSeconds(5);

    private FakeTimeProvider _clock = null!;
    private GatewayHost _a = null!;
    private GatewayHost _b = null!;

    [SetUp]
    public async Task StartAsync()
    {
        // Noon today: no test here crosses a day boundary, and the counters' expiries stay in Redis's future.
        _clock = new FakeTimeProvider(new DateTimeOffset(DateTimeOffset.UtcNow.UtcDateTime.Date.AddHours(12), TimeSpan.Zero));
        var prefix = $"t{Guid.NewGuid():N}:";
        _a = await GatewayHost.StartAsync(Settings(), s => s.AddSingleton<TimeProvider>(_clock), store: StoreKind.Redis, redisPrefix: prefix);
        _b = await GatewayHost.StartAsync(Settings(), s => s.AddSingleton<TimeProvider>(_clock), store: StoreKind.Redis, redisPrefix: prefix);
        await _a.CreateOrgAsync("acme");
    }

    [TearDown]
    public async Task StopAsync()
    {
        await _b.DisposeAsync();
        await _a.DisposeAsync();
    }

    [Test]
    public async Task QuotaLoweredOnOneInstance_OtherInstanceAfterFreshFor_RefusesWithTheNewLimit()
    {
        await _a.AdminPostAsync("admin/orgs/acme/customers", new { id = "c", name = "C", quota = new { limit = 10, period = "day" } }, expected: 201);
        var key = (await _a.CreateKeyAsync("acme", new { name = "k", customerId = "c" })).Str("key");
        for (var i = 0; i < 3; i++)
        {
            await ExpectAsync(_b, key, HttpStatusCode.OK, "10");
        }

        await PatchAsync(_a, "c", new { quota = new { limit = 3, period = "day" } });
        _clock.Advance(FreshFor + TimeSpan.FromSeconds(1));

        await ExpectAsync(_b, key, HttpStatusCode.TooManyRequests, "3");
        var usage = await _a.AdminGetAsync("admin/orgs/acme/customers/c/usage");
        Assert.That(usage["quota"]!["used"]!.GetValue<long>(), Is.EqualTo(3), "nothing admitted past the lowered quota");
    }

    [Test]
    public async Task QuotaLoweredOnOneInstance_OtherInstancePastStaleFor_RefusesWithTheNewLimit()
    {
        await _a.AdminPostAsync("admin/orgs/acme/customers", new { id = "c", name = "C", quota = new { limit = 10, period = "day" } }, expected: 201);
        var key = (await _a.CreateKeyAsync("acme", new { name = "k", customerId = "c" })).Str("key");
        await ExpectAsync(_b, key, HttpStatusCode.OK, "10");

        await PatchAsync(_a, "c", new { quota = new { limit = 1, period = "day" } });
        _clock.Advance(TimeSpan.FromMinutes(6));

        await ExpectAsync(_b, key, HttpStatusCode.TooManyRequests, "1");
    }

    [Test]
    public async Task QuotaRaisedOnOneInstance_OtherInstanceAfterFreshFor_AdmitsWithTheNewLimit()
    {
        await _a.AdminPostAsync("admin/orgs/acme/customers", new { id = "c", name = "C", quota = new { limit = 2, period = "day" } }, expected: 201);
        var key = (await _a.CreateKeyAsync("acme", new { name = "k", customerId = "c" })).Str("key");
        await ExpectAsync(_b, key, HttpStatusCode.OK, "2");
        await ExpectAsync(_b, key, HttpStatusCode.OK, "2");
        await ExpectAsync(_b, key, HttpStatusCode.TooManyRequests, "2");

        await PatchAsync(_a, "c", new { quota = new { limit = 4, period = "day" } });
        _clock.Advance(FreshFor + TimeSpan.FromSeconds(1));

        await ExpectAsync(_b, key, HttpStatusCode.OK, "4");
        await ExpectAsync(_b, key, HttpStatusCode.OK, "4");
        await ExpectAsync(_b, key, HttpStatusCode.TooManyRequests, "4");
    }

    [Test]
    public async Task QuotaAddedOnOneInstance_OtherInstancePastStaleFor_AdmitsOnlyTheQuota()
    {
        await _a.AdminPostAsync("admin/orgs/acme/customers", new { id = "c", name = "C" }, expected: 201);
        var key = (await _a.CreateKeyAsync("acme", new { name = "k", customerId = "c" })).Str("key");
        await ExpectAsync(_b, key, HttpStatusCode.OK, null);

        await PatchAsync(_a, "c", new { quota = new { limit = 1, period = "day" } });
        _clock.Advance(TimeSpan.FromMinutes(6));

        await ExpectAsync(_b, key, HttpStatusCode.OK, "1");
        await ExpectAsync(_b, key, HttpStatusCode.TooManyRequests, "1");
    }

    [Test]
    public async Task CustomerRegisteredOnOneInstance_ForAStampedId_OtherInstanceAfterFreshFor_AppliesItsQuota()
    {
        var key = (await _a.CreateKeyAsync("acme", new { name = "k", customerId = "late" })).Str("key");
        await ExpectAsync(_b, key, HttpStatusCode.OK, null);

        await _a.AdminPostAsync("admin/orgs/acme/customers", new { id = "late", name = "Late", quota = new { limit = 1, period = "day" } }, expected: 201);
        _clock.Advance(FreshFor + TimeSpan.FromSeconds(1));

        await ExpectAsync(_b, key, HttpStatusCode.OK, "1");
        await ExpectAsync(_b, key, HttpStatusCode.TooManyRequests, "1");
    }

    private static async Task PatchAsync(GatewayHost gateway, string customer, object body)
    {
        using var patch = await gateway.Admin.PatchAsJsonAsync($"admin/orgs/acme/customers/{customer}", body);
        await gateway.Expect(patch, 200);
    }

    /// <param name="limit">The X-Quota-Limit expected; null: no quota applies, so no quota headers.</param>
    private static async Task ExpectAsync(GatewayHost gateway, string key, HttpStatusCode status, string? limit)
    {
        using var response = await gateway.CallAsync("/api/x", key);
        Assert.That(response.StatusCode, Is.EqualTo(status), gateway.Errors);
        if (limit is null)
        {
            Assert.That(response.Headers.Contains("X-Quota-Limit"), Is.False);
        }
        else
        {
            Assert.That(response.Headers.TryGetValues("X-Quota-Limit", out var values) ? values.Single() : "(none)", Is.EqualTo(limit));
        }
    }

    private Dictionary<string, string?> Settings() => GatewayHost.Routes(Upstream.Url, ("api", "/api/{**rest}", []));
}
