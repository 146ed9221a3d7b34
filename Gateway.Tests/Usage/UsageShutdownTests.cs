using System.Net;
using Gateway.Observability;
using Gateway.Tests.Common;
using Gateway.Usage;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Gateway.Tests.Usage;

/// <summary>
/// A gateway stopped (as on SIGTERM) while a real redis-server is frozen (SIGSTOP): the shutdown flush is tried again
/// until the host's shutdown timeout, so counts land when Redis wakes within it; when it does not, an error says how
/// many requests' counts are lost and how many Redis may still run. The periodic flush is an hour away, so only the
/// flushes the test makes and the shutdown flush write.
/// </summary>
[NonParallelizable]
public sealed class UsageShutdownTests
{
    private Upstream _upstream = null!;
    private RedisServer _redis = null!;
    private string _prefix = null!;

    [SetUp]
    public void Start()
    {
        _upstream = Upstream.Start();
        _redis = RedisServer.Start();
        _prefix = $"t{Guid.NewGuid():N}:";
    }

    [TearDown]
    public void Stop()
    {
        _redis.Dispose();
        _upstream.Dispose();
    }

    [Test]
    public async Task RedisFrozenThenBackWithinTheShutdownTimeout_EveryCountWritten()
    {
        var logs = new CapturingLoggerProvider(LogLevel.Warning);
        var gateway = await StartAsync(logs, shutdownTimeout: null);
        var (key, keyId) = await KeyAsync(gateway);
        var flusher = gateway.Services.GetRequiredService<UsageFlusher>();

        _redis.Pause();
        try
        {
            // Three sent to the frozen Redis (which runs them when it wakes), two behind them that never left.
            await RequestsAsync(gateway, key, 3);
            await flusher.FlushAsync(CancellationToken.None);
            await RequestsAsync(gateway, key, 2);

            var failures = FlushFailures(logs);
            var stopping = gateway.DisposeAsync().AsTask();
            await Eventually.HoldsAsync(() => FlushFailures(logs) > failures || stopping.IsCompleted, TimeSpan.FromSeconds(15), "the shutdown flush failed once");
            Assert.That(stopping.IsCompleted, Is.False, "still stopping: the shutdown flush is tried again");
            _redis.Resume();
            await stopping.WaitAsync(TimeSpan.FromSeconds(30));
        }
        finally
        {
            _redis.Resume();
        }

        Assert.That(logs.Entries.Where(e => e.EventId == EventIds.UsageLostAtShutdown).Select(e => e.Text), Is.Empty, "nothing lost");
        Assert.That(await StoredAsync(keyId), Is.EqualTo(1 + 5), "each request once");
    }

    [Test]
    public async Task RedisFrozenThroughShutdown_ErrorSaysHowManyRequestsAreLost()
    {
        var logs = new CapturingLoggerProvider(LogLevel.Warning);
        var gateway = await StartAsync(logs, shutdownTimeout: TimeSpan.FromSeconds(4));
        var (key, keyId) = await KeyAsync(gateway);
        var flusher = gateway.Services.GetRequiredService<UsageFlusher>();

        _redis.Pause();
        try
        {
            await RequestsAsync(gateway, key, 3);
            // Sent, no answer: in doubt. Then sent again, still no answer.
            await flusher.FlushAsync(CancellationToken.None);
            await flusher.FlushAsync(CancellationToken.None);
            var warning = logs.Entries.Last(e => e.EventId == EventIds.UsageFlushFailed);
            Assert.That(warning.Text, Does.Contain("Records=1").And.Contain("Requests=3"), "the part held to send again, not \"a batch of 0\"");

            await RequestsAsync(gateway, key, 2);
            await gateway.DisposeAsync().AsTask().WaitAsync(TimeSpan.FromSeconds(30));
        }
        finally
        {
            _redis.Resume();
        }

        var lost = logs.Entries.Where(e => e.EventId == EventIds.UsageLostAtShutdown).ToList();
        Assert.That(lost, Has.Count.EqualTo(1), string.Join(Environment.NewLine, logs.Entries.Select(e => e.Text)));
        Assert.That(lost[0].Level, Is.EqualTo(LogLevel.Error));
        Assert.That(lost[0].Text, Does.Contain("LostRequests=2").And.Contain("LostRecords=1").And.Contain("InDoubtRequests=3"), lost[0].Text);

        // What the error called in doubt: Redis, awake, ran the part it had received.
        await Eventually.HoldsAsync(async () => await StoredAsync(keyId) == 1 + 3, TimeSpan.FromSeconds(15), "the part in doubt counted once");
    }

    private static int FlushFailures(CapturingLoggerProvider logs) =>
        logs.Entries.Count(e => e.EventId is EventIds.UsageFlushFailed or EventIds.UsageShutdownFlushRetrying);

    private Task<GatewayHost> StartAsync(CapturingLoggerProvider logs, TimeSpan? shutdownTimeout) =>
        GatewayHost.StartAsync(Settings(), services =>
        {
            logs.AddTo(services);
            if (shutdownTimeout is { } timeout)
            {
                // After the gateway's own 25 s, which would make the test wait that long.
                services.PostConfigure<HostOptions>(o => o.ShutdownTimeout = timeout);
            }
        }, store: StoreKind.Redis, redisPrefix: _prefix);

    private Dictionary<string, string?> Settings()
    {
        var settings = GatewayHost.Routes(_upstream.Url, ("api", "/api/{**rest}", []));
        settings["Gateway:Store:Redis"] = _redis.ConnectionString;
        settings["Gateway:Store:Timeout"] = "00:00:00.300";
        settings["Gateway:Usage:FlushInterval"] = "01:00:00";
        return settings;
    }

    /// <returns>A key used once, that one request written: the key is cached for the outage.</returns>
    private static async Task<(string Key, string Id)> KeyAsync(GatewayHost gateway)
    {
        await gateway.CreateOrgAsync("acme");
        var created = await gateway.CreateKeyAsync("acme", new { name = "k" });
        var key = created["key"]!.GetValue<string>();
        await RequestsAsync(gateway, key, 1);
        await gateway.Services.GetRequiredService<UsageFlusher>().FlushAsync(CancellationToken.None);
        return (key, created["id"]!.GetValue<string>());
    }

    private static async Task RequestsAsync(GatewayHost gateway, string key, int count)
    {
        for (var i = 0; i < count; i++)
        {
            Assert.That(await gateway.StatusAsync(key), Is.EqualTo(HttpStatusCode.OK), gateway.Errors);
        }
    }

    /// <summary>The key's total as another instance on the same Redis reports it.</summary>
    private async Task<long> StoredAsync(string keyId)
    {
        await using var reader = await GatewayHost.StartAsync(Settings(), store: StoreKind.Redis, redisPrefix: _prefix);
        return (await reader.AdminGetAsync($"admin/keys/{keyId}/usage?granularity=hour"))["totals"]!["total"]!.GetValue<long>();
    }
}
