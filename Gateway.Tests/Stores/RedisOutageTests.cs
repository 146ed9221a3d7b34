using System.Diagnostics;
using System.Net;
using Gateway.Configuration;
using Gateway.Stores.Redis;
using Gateway.Tests.Common;
using Gateway.Usage;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace Gateway.Tests.Stores;

/// <summary>
/// Store outages (docs/redis.md) with a real redis-server killed (SIGKILL) or frozen (SIGSTOP) under the gateway:
/// known keys keep working, seen revocations hold, unknown keys get a fast 503, /readyz says so, and
/// service comes back by itself.
/// </summary>
[NonParallelizable]
public sealed class RedisOutageTests
{
    private Upstream _upstream = null!;
    private RedisServer _redis = null!;
    private GatewayHost _gateway = null!;
    private string _known = null!;
    private string _knownId = null!;
    private string _revoked = null!;
    private string _unseen = null!;

    [SetUp]
    public async Task StartAsync()
    {
        _upstream = Upstream.Start();
        _redis = RedisServer.Start();
        var settings = GatewayHost.Routes(_upstream.Url, ("api", "/api/{**rest}", []));
        settings["Gateway:Store:Redis"] = _redis.ConnectionString;
        settings["Gateway:Store:Timeout"] = "00:00:00.300";
        // Fresh for one tick: every request below asks the (dead) store first, with no wait for a fresh period to lapse.
        settings["Gateway:Cache:FreshFor"] = "00:00:00.0000001";
        settings["Gateway:Cache:NegativeFor"] = "00:00:00.100";
        _gateway = await GatewayHost.StartAsync(settings);

        await _gateway.CreateOrgAsync("acme");
        var known = await _gateway.CreateKeyAsync("acme", new { name = "known" });
        _known = known["key"]!.GetValue<string>();
        _knownId = known["id"]!.GetValue<string>();
        var revoked = await _gateway.CreateKeyAsync("acme", new { name = "revoked" });
        _revoked = revoked["key"]!.GetValue<string>();
        _unseen = (await _gateway.CreateKeyAsync("acme", new { name = "unseen" }))["key"]!.GetValue<string>();
        Assert.That(await _gateway.StatusAsync(_known), Is.EqualTo(HttpStatusCode.OK));
        await _gateway.AdminPostAsync($"admin/keys/{revoked["id"]!.GetValue<string>()}/revoke");
        Assert.That(await _gateway.CodeAsync(_revoked), Is.EqualTo("key_revoked"));
    }

    [TearDown]
    public async Task StopAsync()
    {
        await _gateway.DisposeAsync();
        _redis.Dispose();
        _upstream.Dispose();
    }

    [Test]
    public async Task Sigkill_KnownKeysWork_RevokedStaysRevoked_UnknownFast503_ThenRecovers()
    {
        _redis.Kill();

        await AssertDegradedAsync();

        _redis.Restart(); // an empty server: what was stored is gone, but the gateway must recover on its own
        await GatewayHost.WaitForAsync(async () => (await _gateway.Admin.GetAsync("readyz")).StatusCode == HttpStatusCode.OK, TimeSpan.FromSeconds(15));
        await GatewayHost.WaitForAsync(async () =>
        {
            using var response = await _gateway.Admin.PostAsync("admin/orgs", System.Net.Http.Json.JsonContent.Create(new { id = "after" }));
            return response.StatusCode == HttpStatusCode.Created;
        }, TimeSpan.FromSeconds(10));
        var fresh = (await _gateway.CreateKeyAsync("after", new { name = "k" }))["key"]!.GetValue<string>();
        Assert.That(await _gateway.StatusAsync(fresh), Is.EqualTo(HttpStatusCode.OK));
    }

    [Test]
    public async Task Sigstop_KnownKeysWork_RevokedStaysRevoked_UnknownFast503_ThenRecovers()
    {
        _redis.Pause();
        try
        {
            await AssertDegradedAsync();
        }
        finally
        {
            _redis.Resume();
        }

        await GatewayHost.WaitForAsync(async () => await _gateway.StatusAsync(_unseen) == HttpStatusCode.OK, TimeSpan.FromSeconds(15));
        await GatewayHost.WaitForAsync(async () => (await _gateway.Admin.GetAsync("readyz")).StatusCode == HttpStatusCode.OK, TimeSpan.FromSeconds(15));
        Assert.That(await _gateway.StatusAsync(_known), Is.EqualTo(HttpStatusCode.OK));
        Assert.That(await _gateway.CodeAsync(_revoked), Is.EqualTo("key_revoked"));
    }

    // While Redis is frozen, StackExchange.Redis gives the connection up after a second or so and fails the calls in
    // flight as cancelled, or with its pipe's "reading is not allowed after reader was completed": the limiter's and
    // the credits' calls among them. Each of those is Redis not answering, never a 500.
    [Test]
    public async Task Sigstop_RequestsWhileTheConnectionIsGivenUp_NeverA500()
    {
        var prepaid = (await _gateway.CreateKeyAsync("acme", new { name = "prepaid", credits = new { remaining = 100_000 } }))["key"]!.GetValue<string>();
        Assert.That(await _gateway.StatusAsync(prepaid), Is.EqualTo(HttpStatusCode.OK));
        var statuses = new List<HttpStatusCode>();
        _redis.Pause();
        try
        {
            var until = Stopwatch.GetTimestamp() + (Stopwatch.Frequency * 6);
            while (Stopwatch.GetTimestamp() < until)
            {
                statuses.Add(await _gateway.StatusAsync(_known));
                statuses.Add(await _gateway.StatusAsync(prepaid));
            }
        }
        finally
        {
            _redis.Resume();
        }

        Assert.That(statuses, Has.None.EqualTo(HttpStatusCode.InternalServerError), string.Join(",", statuses.Select(s => (int)s)));
        Assert.That(statuses, Has.Some.EqualTo(HttpStatusCode.OK), "known keys are served from the cache");
    }

    // A known key whose customer this instance has not read (registered after the key's last request): its shared
    // limit and quota cannot be checked without Redis, so the request is refused as unverifiable, not failed.
    [Test]
    public async Task Sigstop_KnownKeyWithACustomerNotReadYet_503StoreUnavailable()
    {
        var late = (await _gateway.CreateKeyAsync("acme", new { name = "late", customerId = "late-customer" }))["key"]!.GetValue<string>();
        Assert.That(await _gateway.StatusAsync(late), Is.EqualTo(HttpStatusCode.OK), "an unregistered customer id is only stamped");
        await _gateway.AdminPostAsync("admin/orgs/acme/customers", new { id = "late-customer", name = "Late", quota = new { limit = 100, period = "day" } }, expected: 201);

        _redis.Pause();
        try
        {
            using var response = await _gateway.CallAsync("/api/x", late);
            Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.ServiceUnavailable));
            Assert.That((await GatewayHost.ProblemAsync(response))["code"]!.GetValue<string>(), Is.EqualTo("store_unavailable"));
            Assert.That(response.Headers.RetryAfter?.Delta, Is.EqualTo(TimeSpan.FromSeconds(1)));
            Assert.That(await _gateway.StatusAsync(_known), Is.EqualTo(HttpStatusCode.OK), "keys without a customer are served as before");
        }
        finally
        {
            _redis.Resume();
        }

        await GatewayHost.WaitForAsync(async () => await _gateway.StatusAsync(late) == HttpStatusCode.OK, TimeSpan.FromSeconds(15));
    }

    [Test]
    public async Task Sigstop_UsageReportDuringAFailingFlush_503WithinTheTimeouts_ThenEveryRequestCountedOnce()
    {
        var flusher = _gateway.Services.GetRequiredService<UsageFlusher>();
        await flusher.FlushAsync(CancellationToken.None);
        var path = $"admin/keys/{_knownId}/usage?granularity=hour";
        var before = (await _gateway.AdminGetAsync(path))["totals"]!["total"]!.GetValue<long>();

        _redis.Pause();
        try
        {
            for (var i = 0; i < 3; i++)
            {
                Assert.That(await _gateway.StatusAsync(_known), Is.EqualTo(HttpStatusCode.OK));
            }

            // The report waits for the flush (which times out and keeps its part to send again), then fails its own
            // read: both bounded by the store timeout.
            var flush = flusher.FlushAsync(CancellationToken.None);
            var clock = Stopwatch.StartNew();
            using (var report = await _gateway.Admin.GetAsync(path))
            {
                Assert.That(report.StatusCode, Is.EqualTo(HttpStatusCode.ServiceUnavailable));
                Assert.That((await GatewayHost.ProblemAsync(report))["code"]!.GetValue<string>(), Is.EqualTo("store_unavailable"));
            }

            Assert.That(clock.Elapsed, Is.LessThan(TimeSpan.FromSeconds(3)), "two store timeouts, not a hang");
            await flush.WaitAsync(TimeSpan.FromSeconds(10));
        }
        finally
        {
            _redis.Resume();
        }

        // Redis, awake, runs the part it had received; the next flush sends it again and Redis skips it.
        await GatewayHost.WaitForAsync(async () => (await _gateway.Admin.GetAsync(path)).StatusCode == HttpStatusCode.OK, TimeSpan.FromSeconds(15));
        await flusher.FlushAsync(CancellationToken.None);
        Assert.That((await _gateway.AdminGetAsync(path))["totals"]!["total"]!.GetValue<long>(), Is.EqualTo(before + 3), "each request once");
        await flusher.FlushAsync(CancellationToken.None);
        Assert.That((await _gateway.AdminGetAsync(path))["totals"]!["total"]!.GetValue<long>(), Is.EqualTo(before + 3), "still once");
    }

    [Test]
    public async Task Sigkill_WhileAFlushWasInDoubt_ThePartIsSentAgainAndCountedOnce()
    {
        var flusher = _gateway.Services.GetRequiredService<UsageFlusher>();
        var store = (RedisUsageStore)_gateway.Services.GetRequiredService<IUsageStore>();
        await flusher.FlushAsync(CancellationToken.None);

        _redis.Pause();
        for (var i = 0; i < 3; i++)
        {
            Assert.That(await _gateway.StatusAsync(_known), Is.EqualTo(HttpStatusCode.OK));
        }

        // Sent to a frozen Redis: no answer, so the store cannot know whether it ran, and keeps it.
        await flusher.FlushAsync(CancellationToken.None);
        Assert.That(store.InDoubt, Is.EqualTo(1));

        // Killed while frozen: what it had received never ran, and it comes back empty.
        _redis.Restart();
        await GatewayHost.WaitForAsync(async () => (await _gateway.Admin.GetAsync("readyz")).StatusCode == HttpStatusCode.OK, TimeSpan.FromSeconds(15));
        await flusher.FlushAsync(CancellationToken.None);
        Assert.That(store.InDoubt, Is.Zero);
        // Read from the key's hashes: their minute was indexed before the data loss, so the index only has it again
        // with the key's next minute (docs/usage.md).
        var db = _gateway.Services.GetRequiredService<IConnectionMultiplexer>().GetDatabase();
        var root = new RedisKeys(_gateway.Services.GetRequiredService<IOptions<GatewayOptions>>().Value.Store.RedisPrefix).UsageRoot;
        var now = DateTimeOffset.UtcNow;
        async Task<long> StoredAsync()
        {
            long total = 0;
            foreach (var hour in new[] { now, now.AddHours(-1) })
            {
                var name = root.Append("k:" + _knownId + ":" + hour.ToString("yyyyMMddHH", System.Globalization.CultureInfo.InvariantCulture));
                total += (await db.HashGetAllAsync(name)).Sum(f => (long)f.Value);
            }

            return total;
        }

        Assert.That(await StoredAsync(), Is.EqualTo(3), "sent again, and run this time");

        await flusher.FlushAsync(CancellationToken.None);
        Assert.That(await StoredAsync(), Is.EqualTo(3), "once");
    }

    private async Task AssertDegradedAsync()
    {
        for (var i = 0; i < 20; i++)
        {
            Assert.That(await _gateway.StatusAsync(_known), Is.EqualTo(HttpStatusCode.OK), $"known key, request {i}");
            Assert.That(await _gateway.CodeAsync(_revoked), Is.EqualTo("key_revoked"), $"revoked key, request {i}");
        }

        var clock = Stopwatch.StartNew();
        using (var unknown = await _gateway.CallAsync("/api/x", _unseen))
        {
            Assert.That(unknown.StatusCode, Is.EqualTo(HttpStatusCode.ServiceUnavailable));
            Assert.That((await GatewayHost.ProblemAsync(unknown))["code"]!.GetValue<string>(), Is.EqualTo("store_unavailable"));
        }

        Assert.That(clock.Elapsed, Is.LessThan(TimeSpan.FromSeconds(2)), "bounded by Store:Timeout, not by TCP");
        using var ready = await _gateway.Admin.GetAsync("readyz");
        Assert.That(ready.StatusCode, Is.EqualTo(HttpStatusCode.ServiceUnavailable));
        Assert.That(_upstream.Received.Count(e => e.RequestMessage.Headers!.ContainsKey("X-Key-Id")), Is.EqualTo(21), "only the known key's requests were forwarded");
    }
}
