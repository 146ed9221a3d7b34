using System.Net;
using System.Net.Sockets;
using Gateway.Hosting;
using Gateway.Tests.Common;
using Microsoft.Extensions.DependencyInjection;

namespace Gateway.Tests.Hosting;

/// <summary>
/// A gateway stopped (as on SIGTERM) while one request is stuck in an upstream that never answers: the drain of
/// in-flight requests ends at its bound and drops that request, and what the requests finished before the stop
/// counted (usage, last-used time, request-log records) is still written. The periodic flushes are a minute away, so
/// only the shutdown's flushes can write them.
/// </summary>
[TestFixtureSource(typeof(StoreKinds), nameof(StoreKinds.All))]
public sealed class ShutdownDrainTests(StoreKind store)
{
    [Test]
    public async Task RequestStuckPastTheDrain_RequestsFinishedBeforeTheStop_UsageLastUseAndRecordsStored()
    {
        using var upstream = Upstream.Start();
        using var stalled = StalledUpstream.Start();
        var directory = Path.Combine(Path.GetTempPath(), "gw-tests", Guid.NewGuid().ToString("N"));
        var prefix = $"t{Guid.NewGuid():N}:";
        var settings = GatewayHost.Routes(upstream.Url, ("api", "/api/{**rest}", []));
        settings["ReverseProxy:Clusters:stalled:Destinations:d1:Address"] = stalled.Url;
        settings["ReverseProxy:Clusters:stalled:HttpRequest:ActivityTimeout"] = "00:02:00";
        settings["ReverseProxy:Routes:slow:ClusterId"] = "stalled";
        settings["ReverseProxy:Routes:slow:Match:Path"] = "/slow/{**rest}";
        settings["Gateway:Usage:FlushInterval"] = "00:01:00";

        var gateway = await GatewayHost.StartAsync(settings, ShortDrain, directory: directory, store: store, redisPrefix: prefix);
        await gateway.CreateOrgAsync("acme");
        var created = await gateway.CreateKeyAsync("acme", new { name = "svc" });
        var key = created["key"]!.GetValue<string>();
        var keyId = created["id"]!.GetValue<string>();

        // A client of its own: the host's clients are disposed at the stop, which would end this request first.
        using var slowClient = new HttpClient { BaseAddress = gateway.ProxyUrl, Timeout = Timeout.InfiniteTimeSpan };
        using var slowRequest = new HttpRequestMessage(HttpMethod.Get, "/slow/x");
        slowRequest.Headers.TryAddWithoutValidation("Authorization", "Bearer " + key);
        var stuck = slowClient.SendAsync(slowRequest);
        await stalled.Arrived.WaitAsync(TimeSpan.FromSeconds(15));

        for (var i = 0; i < 4; i++)
        {
            Assert.That(await gateway.StatusAsync(key), Is.EqualTo(HttpStatusCode.OK), gateway.Errors);
        }

        await gateway.StopForRestartAsync().WaitAsync(TimeSpan.FromSeconds(60));
        try
        {
            using var answer = await stuck.WaitAsync(TimeSpan.FromSeconds(15));
            Assert.That((int)answer.StatusCode, Is.GreaterThanOrEqualTo(500), "not answered by the upstream");
        }
        catch (HttpRequestException)
        {
            // Its connection dropped when the drain ended: what the contract allows.
        }

        await using var restarted = await GatewayHost.StartAsync(settings, directory: directory, store: store, redisPrefix: prefix);
        var usage = await restarted.AdminGetAsync($"admin/keys/{keyId}/usage?granularity=hour");
        var stored = await restarted.AdminGetAsync($"admin/keys/{keyId}");
        var records = (await restarted.AdminGetAsync("admin/orgs/acme/requests?limit=100"))["items"]!.AsArray();
        Assert.Multiple(() =>
        {
            Assert.That(usage["totals"]!["counts"]!["allowed"]?.GetValue<long>(), Is.EqualTo(4), usage.ToJsonString());
            Assert.That(stored["lastUsedAt"]?.GetValue<string>(), Is.Not.Null, "the last use written at the stop");
            Assert.That(records.Count(r => r!["status"]!.GetValue<int>() == 200), Is.EqualTo(4), records.ToJsonString());
            Assert.That(records, Has.Count.EqualTo(5), "the stuck request's record too: " + records.ToJsonString());
        });
    }

    /// <summary>The drain of in-flight requests ends after 3 s instead of 20, so the test does not wait that long.</summary>
    private static void ShortDrain(IServiceCollection services) =>
        services.AddSingleton(new ShutdownBudget(Drain: TimeSpan.FromSeconds(3), Flush: ShutdownBudget.Default.Flush));

    /// <summary>An upstream that accepts connections and never answers on them.</summary>
    private sealed class StalledUpstream : IDisposable
    {
        private readonly TcpListener _listener;
        private readonly List<Socket> _held = [];
        private readonly TaskCompletionSource _arrived = new(TaskCreationOptions.RunContinuationsAsynchronously);

        private StalledUpstream(TcpListener listener) => _listener = listener;

        public string Url => $"http://127.0.0.1:{((IPEndPoint)_listener.LocalEndpoint).Port}/";

        /// <summary>Completes when the first connection is accepted (a request on its way to the upstream).</summary>
        public Task Arrived => _arrived.Task;

        public static StalledUpstream Start()
        {
            var listener = new TcpListener(IPAddress.Loopback, 0);
            listener.Start();
            var upstream = new StalledUpstream(listener);
            _ = upstream.AcceptAsync();
            return upstream;
        }

        private async Task AcceptAsync()
        {
            try
            {
                while (true)
                {
                    var socket = await _listener.AcceptSocketAsync();
                    lock (_held)
                    {
                        _held.Add(socket);
                    }

                    _arrived.TrySetResult();
                }
            }
            catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
            {
                // Stopped.
            }
        }

        public void Dispose()
        {
            _listener.Stop();
            lock (_held)
            {
                foreach (var socket in _held)
                {
                    socket.Dispose();
                }
            }
        }
    }
}
