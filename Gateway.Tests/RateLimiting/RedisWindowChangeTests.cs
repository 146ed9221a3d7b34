using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using Gateway.Tests.Common;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;

namespace Gateway.Tests.RateLimiting;

/// <summary>
/// A sliding window whose length changes on Redis (a key's <c>rateLimit</c> PATCHed, a workspace window reloaded):
/// buckets counted under the shorter window once looked like future buckets of the longer one and stayed counted
/// for good, every refusal saying <c>Retry-After: 1</c>.
/// </summary>
[NonParallelizable]
public sealed class RedisWindowChangeTests : UpstreamFixture
{
    [Test]
    public async Task KeyWindowLengthened_AfterItWasUsedUp_AdmittedAgainAndRetryAfterCoversTheWait()
    {
        var prefix = $"t{Guid.NewGuid():N}:";
        var settings = GatewayHost.Routes(Upstream.Url, ("api", "/api/{**rest}", []));
        await using var a = await GatewayHost.StartAsync(settings, store: StoreKind.Redis, redisPrefix: prefix);
        await using var b = await GatewayHost.StartAsync(settings, store: StoreKind.Redis, redisPrefix: prefix);
        await a.CreateOrgAsync("acme");
        var created = await a.CreateKeyAsync("acme", new { name = "k", rateLimit = new { permitLimit = 3, window = "00:00:02" } });
        var key = created.Str("key");
        GatewayHost[] both = [a, b];
        Assert.That(await UseUpAsync(both, key), Is.EqualTo("key"));

        using (var patch = await a.Admin.PatchAsync($"admin/keys/{created.Str("id")}", JsonContent.Create(new { rateLimit = new { permitLimit = 3, window = "00:00:04" } })))
        {
            Assert.That(patch.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        }

        // The two-second window's counts are gone once it has passed, on both instances (with the window in the
        // partition the new window starts from a fresh count, as on the embedded store).
        var admitted = 0;
        foreach (var gateway in both)
        {
            await Eventually.HoldsAsync(async () => await gateway.StatusAsync(key) == HttpStatusCode.OK, TimeSpan.FromSeconds(4), "a request after the old window passed is admitted");
            admitted++;
        }

        // The new window's limit holds across both, and its refusal names a wait that is long enough.
        HttpResponseMessage? refused = null;
        for (var i = 0; refused is null && i < 10; i++)
        {
            var response = await both[i % 2].CallAsync("/api/x", key);
            if (response.StatusCode == HttpStatusCode.OK)
            {
                admitted++;
                response.Dispose();
            }
            else
            {
                refused = response;
            }
        }

        Assert.That(refused, Is.Not.Null);
        var clock = Stopwatch.StartNew();
        using (refused)
        {
            Assert.That(refused!.StatusCode, Is.EqualTo(HttpStatusCode.TooManyRequests));
            Assert.That(admitted, Is.EqualTo(3), "three per four seconds over both instances");
            var retryAfter = int.Parse(refused.Headers.GetValues("Retry-After").Single(), CultureInfo.InvariantCulture);
            Assert.That(retryAfter, Is.InRange(2, 5), "the four-second window, not the bucket of a stranded count");

            // A client that waits what it was told finds a permit.
            var rest = TimeSpan.FromSeconds(retryAfter) - clock.Elapsed;
            if (rest > TimeSpan.Zero)
            {
                await Task.Delay(rest);
            }

            Assert.That(await a.StatusAsync(key), Is.EqualTo(HttpStatusCode.OK), "Retry-After is never shorter than the real wait");
        }
    }

    [Test]
    public async Task WorkspaceWindowLengthenedByReload_AfterItWasUsedUp_AdmittedAgain()
    {
        var prefix = $"t{Guid.NewGuid():N}:";
        var settings = GatewayHost.Routes(Upstream.Url, ("api", "/api/{**rest}", []));
        settings["Gateway:RateLimits:Workspace:PermitLimit"] = "3";
        settings["Gateway:RateLimits:Workspace:Window"] = "00:00:02";
        await using var a = await GatewayHost.StartAsync(settings, store: StoreKind.Redis, redisPrefix: prefix);
        await using var b = await GatewayHost.StartAsync(settings, store: StoreKind.Redis, redisPrefix: prefix);
        var key = (await a.CreateOrgAsync("acme")).DefaultKey();
        GatewayHost[] both = [a, b];
        Assert.That(await UseUpAsync(both, key), Is.EqualTo("workspace"));

        foreach (var gateway in both)
        {
            var configuration = (IConfigurationRoot)gateway.Services.GetRequiredService<IConfiguration>();
            configuration["Gateway:RateLimits:Workspace:Window"] = "00:00:04";
            configuration.Reload();
        }

        foreach (var gateway in both)
        {
            await Eventually.HoldsAsync(async () => await gateway.StatusAsync(key) == HttpStatusCode.OK, TimeSpan.FromSeconds(4), "a request after the old window passed is admitted");
        }

        using var response = await a.CallAsync("/api/x", key);
        Assert.That(response.Headers.GetValues("X-RateLimit-Limit").Single(), Is.EqualTo("3"));
    }

    [Test]
    public async Task WorkspaceLimitAloneChangedByReload_KeepsTheCount()
    {
        var settings = GatewayHost.Routes(Upstream.Url, ("api", "/api/{**rest}", []));
        settings["Gateway:RateLimits:Workspace:PermitLimit"] = "3";
        settings["Gateway:RateLimits:Workspace:Window"] = "00:01:00";
        await using var gateway = await GatewayHost.StartAsync(settings, store: StoreKind.Redis);
        var key = (await gateway.CreateOrgAsync("acme")).DefaultKey();
        for (var i = 0; i < 3; i++)
        {
            Assert.That(await gateway.StatusAsync(key), Is.EqualTo(HttpStatusCode.OK));
        }

        var configuration = (IConfigurationRoot)gateway.Services.GetRequiredService<IConfiguration>();
        configuration["Gateway:RateLimits:Workspace:PermitLimit"] = "5";
        configuration.Reload();

        var statuses = new List<HttpStatusCode>();
        for (var i = 0; i < 4; i++)
        {
            statuses.Add(await gateway.StatusAsync(key));
        }

        Assert.That(statuses, Is.EqualTo(new[] { HttpStatusCode.OK, HttpStatusCode.OK, HttpStatusCode.TooManyRequests, HttpStatusCode.TooManyRequests }), "the raised limit less what was counted");
    }

    /// <summary>Calls both instances in turn until one refuses (a slow start may see the short window slide meanwhile); the refusing limit.</summary>
    private static async Task<string?> UseUpAsync(GatewayHost[] both, string key)
    {
        for (var i = 0; i < 30; i++)
        {
            using var response = await both[i % 2].CallAsync("/api/x", key);
            if (response.StatusCode != HttpStatusCode.OK)
            {
                Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.TooManyRequests));
                return (await GatewayHost.ProblemAsync(response)).Str("limit");
            }
        }

        Assert.Fail("never refused");
        return null;
    }
}
