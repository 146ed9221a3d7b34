using System.Net;
using System.Net.Sockets;
using System.Text;
using Gateway.Tests.Common;
using Gateway.Tests.Proxy;
using Gateway.Usage;
using Microsoft.Extensions.DependencyInjection;

namespace Gateway.Tests.Usage;

/// <summary>
/// Requests that passed authentication and limits and then ended without an upstream answer: a body Kestrel refused
/// and a client that went away. Each is counted once under its key, under an outcome of its own (docs/usage.md),
/// not left out nor called <c>allowed</c>.
/// </summary>
[NonParallelizable]
public sealed class UsageOutcomeTests : GatewayFixture
{
    // An upstream that takes requests and never answers, a bare socket so the test knows when a request reached it.
    private readonly TcpListener _silent = Listen();

    [OneTimeTearDown]
    public void StopSilentUpstream() => _silent.Dispose();

    protected override Dictionary<string, string?> Settings(string upstream)
    {
        var settings = base.Settings(upstream);
        settings["ReverseProxy:Clusters:silent:Destinations:d1:Address"] = $"http://127.0.0.1:{((IPEndPoint)_silent.LocalEndpoint).Port}/";
        settings["ReverseProxy:Routes:slow:ClusterId"] = "silent";
        settings["ReverseProxy:Routes:slow:Match:Path"] = "/slow/{**rest}";
        settings["Kestrel:Limits:MaxRequestBodySize"] = "1000";
        settings["Gateway:Usage:FlushInterval"] = "01:00:00";
        return settings;
    }

    [Test]
    public async Task KeyedBodyOverMaxRequestBodySize_CountedAsBodyTooLarge()
    {
        var key = await KeyAsync();

        var response = await RawHttp.SendAsync(
            Host.ProxyUrl,
            $"POST /api/x HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {Plaintext(key)}\r\nContent-Length: 5000\r\nConnection: close\r\n\r\n",
            new byte[5000]);

        Assert.That((response.Status, response.Code), Is.EqualTo((413, "body_too_large")), response.Body);
        Assert.That(await CountsAsync(Id(key)), Is.EquivalentTo(new Dictionary<string, long> { ["body_too_large"] = 1 }));
    }

    [Test]
    public async Task KeyedBodyWithBadChunkFraming_CountedAsBadRequest()
    {
        var key = await KeyAsync();

        var response = await RawHttp.SendAsync(
            Host.ProxyUrl,
            $"POST /api/x HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {Plaintext(key)}\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n5;ext\nbad\r\nhello\r\n0\r\n\r\n");

        Assert.That((response.Status, response.Code), Is.EqualTo((400, "bad_request")), response.Body);
        Assert.That(await CountsAsync(Id(key)), Is.EquivalentTo(new Dictionary<string, long> { ["bad_request"] = 1 }));
    }

    [Test]
    public async Task ClientCancelsBeforeTheUpstreamAnswers_CountedAsClientAbortedNotAllowed()
    {
        var key = await KeyAsync();
        using var client = new HttpClient { BaseAddress = Host.ProxyUrl };
        using var request = new HttpRequestMessage(HttpMethod.Get, "/slow/x");
        request.Headers.TryAddWithoutValidation("Authorization", "Bearer " + Plaintext(key));
        using var cancel = new CancellationTokenSource();

        var call = client.SendAsync(request, cancel.Token);
        // Cancelled once the upstream has the request: the gateway let it in and is waiting for the answer.
        using var forwarded = await _silent.AcceptTcpClientAsync().WaitAsync(TimeSpan.FromSeconds(10));
        await ReadHeadAsync(forwarded.GetStream()).WaitAsync(TimeSpan.FromSeconds(10));
        await cancel.CancelAsync();
        Assert.That(async () => await call, Throws.InstanceOf<OperationCanceledException>());

        // The gateway records the request once it has seen the client go; until then nothing is counted.
        var counts = await Eventually.ValueAsync(() => CountsAsync(Id(key)), c => c.Count > 0, TimeSpan.FromSeconds(10), "the request counted");
        Assert.That(counts, Is.EquivalentTo(new Dictionary<string, long> { ["client_aborted"] = 1 }));
    }

    [Test]
    public async Task Outcomes_ListsTheNewOnes()
    {
        var key = await KeyAsync();
        Assert.That(await Host.StatusAsync(Plaintext(key)), Is.EqualTo(HttpStatusCode.OK));

        var usage = await Host.AdminGetAsync($"admin/keys/{Id(key)}/usage");

        Assert.That(usage["outcomes"]!.AsArray().Select(o => o!.GetValue<string>()), Is.SupersetOf(new[] { "body_too_large", "bad_request", "client_aborted" }));
    }

    private static TcpListener Listen()
    {
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return listener;
    }

    private static async Task ReadHeadAsync(NetworkStream stream)
    {
        var head = new StringBuilder();
        var buffer = new byte[1024];
        while (!head.ToString().Contains("\r\n\r\n", StringComparison.Ordinal))
        {
            var read = await stream.ReadAsync(buffer);
            if (read == 0)
            {
                break;
            }

            head.Append(Encoding.ASCII.GetString(buffer, 0, read));
        }
    }

    private async Task<System.Text.Json.Nodes.JsonObject> KeyAsync() => await Host.CreateKeyAsync(await NewOrgAsync(), new { name = "k" });

    private async Task<Dictionary<string, long>> CountsAsync(string keyId)
    {
        await Host.Services.GetRequiredService<UsageFlusher>().FlushAsync(CancellationToken.None);
        var usage = await Host.AdminGetAsync($"admin/keys/{keyId}/usage?granularity=hour");
        return usage["totals"]!["counts"]!.AsObject().ToDictionary(p => p.Key, p => p.Value!.GetValue<long>());
    }
}
