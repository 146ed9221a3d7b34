using System.Diagnostics;
using System.Text.Json;
using System.Text.RegularExpressions;
using Gateway.Tests.Common;
using Gateway.Verification;

namespace Gateway.Tests.Signing;

/// <summary>
/// The Python verifier published in docs/signing.md, run as python3 subprocess on requests a real
/// upstream received from the gateway.
/// </summary>
public sealed partial class PythonVerifierTests : RecordingGatewayFixture
{
    private const string Secret = "py-secret-0123456789abcdefghijklmnopqrstuvwxyz";

    private string _key = null!;
    private string _script = null!;

    [OneTimeSetUp]
    public async Task StartAsync()
    {
        await Host.CreateOrgAsync("pyorg");
        _key = (await Host.CreateKeyAsync("pyorg", new { name = "py", customerId = "c-1" })).Str("key");
        var docs = await File.ReadAllTextAsync(RepositoryFiles.PathOf("docs", "signing.md"));
        var snippet = PythonBlock().Match(docs);
        Assert.That(snippet.Success, "docs/signing.md has no ```python block");
        _script = Path.Combine(Path.GetTempPath(), $"gw-verify-{Guid.NewGuid():N}.py");
        await File.WriteAllTextAsync(_script, snippet.Groups[1].Value + """

            if __name__ == "__main__":
                import base64, json, sys
                r = json.load(sys.stdin)
                if "derive" in r:
                    print(derive_cluster_key(r["secret"], r["derive"]))
                    sys.exit(0)
                seen = {}
                results = [verify_gateway_signature(r["keys"], r["method"], r["target"], r["headers"], r["tolerance"], r["now"],
                                                    cluster=r["cluster"], body=base64.b64decode(r["body"]), seen=seen)
                           for _ in range(r["repeat"])]
                print(" ".join(results))
            """);
    }

    protected override Dictionary<string, string?> Settings(string upstream) => new()
    {
        ["ReverseProxy:Clusters:orders:Destinations:d1:Address"] = upstream,
        ["ReverseProxy:Clusters:billing:Destinations:d1:Address"] = upstream,
        ["ReverseProxy:Routes:orders:ClusterId"] = "orders",
        ["ReverseProxy:Routes:orders:Match:Path"] = "/api/{**rest}",
        ["ReverseProxy:Routes:billing:ClusterId"] = "billing",
        ["ReverseProxy:Routes:billing:Match:Path"] = "/billing/{**rest}",
        ["Gateway:Signing:Secrets:0:Id"] = "py1",
        ["Gateway:Signing:Secrets:0:Secret"] = Secret,
        ["Gateway:Signing:Versions"] = "v1,v2",
    };

    [OneTimeTearDown]
    public void DeleteScript() => File.Delete(_script);

    private async Task<ReceivedRequest> CaptureAsync(string path = "/api/things/%C3%A9?x=1&y=%2F", byte[]? body = null)
    {
        Upstream.Reset();
        using var request = new HttpRequestMessage(body is null ? HttpMethod.Get : HttpMethod.Post, path);
        request.Headers.TryAddWithoutValidation("Authorization", "Bearer " + _key);
        if (body is not null)
        {
            request.Content = new ByteArrayContent(body);
        }

        using var response = await Host.Proxy.SendAsync(request);
        Assert.That((int)response.StatusCode, Is.EqualTo(200));
        return Upstream.Only();
    }

    /// <summary>Runs the documented verifier: version 1 with the secret when <paramref name="cluster"/> is null, else version 2 with <paramref name="clusterKey"/>.</summary>
    private async Task<string> RunAsync(
        ReceivedRequest request, long now, string? method = null, IEnumerable<KeyValuePair<string, string>>? headers = null, string kid = "py1",
        string? cluster = null, string? clusterKey = null, byte[]? body = null, string? target = null, int repeat = 1)
    {
        var input = JsonSerializer.Serialize(new
        {
            keys = new Dictionary<string, string> { [kid] = cluster is null ? Secret : clusterKey ?? Key(cluster) },
            method = method ?? request.Method,
            target = target ?? request.RawTarget,
            headers = (headers ?? request.HeaderLines).Select(h => new[] { h.Key, h.Value }),
            tolerance = 300,
            now,
            cluster,
            body = Convert.ToBase64String(body ?? request.Body),
            repeat,
        });
        return await PythonAsync(input);
    }

    private async Task<string> PythonAsync(string input)
    {
        var start = new ProcessStartInfo("python3", [_script])
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        using var process = Process.Start(start)!;
        await process.StandardInput.WriteAsync(input);
        process.StandardInput.Close();
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        await process.WaitForExitAsync(timeout.Token);
        Assert.That(process.ExitCode, Is.Zero, await error);
        return (await output).Trim();
    }

    private static string Key(string cluster) => Convert.ToHexStringLower(GatewaySignature.DeriveClusterKey(Secret, cluster));

    [Test]
    public async Task PythonSnippet_RequestTheGatewaySent_IsValid()
    {
        var request = await CaptureAsync();

        Assert.That(request.RawTarget, Is.EqualTo("/api/things/%C3%A9?x=1&y=%2F"));
        Assert.That(await RunAsync(request, request.SignedAt + 1), Is.EqualTo("valid"));
        Assert.That(await RunAsync(request, request.SignedAt + 1, cluster: "orders"), Is.EqualTo("valid"));
    }

    [TestCase("X-Key-Scopes")]
    [TestCase("X-Org-Id")]
    [TestCase("X-Customer-Id")]
    public async Task PythonSnippet_ChangedHeader_IsInvalid(string name)
    {
        var request = await CaptureAsync();
        var t = request.SignedAt;

        Assert.That(await RunAsync(request, t, headers: request.With(name, "changed")), Is.EqualTo("invalid"));
        Assert.That(await RunAsync(request, t, method: "PUT"), Is.EqualTo("invalid"));
        Assert.That(await RunAsync(request, t, headers: request.With(name, "changed"), cluster: "orders"), Is.EqualTo("invalid"));
    }

    [TestCase("X-Org-Id")]
    [TestCase("x_org_id")]
    [TestCase("X-Key-Scopes")]
    [TestCase("X-Gateway-Signature")]
    public async Task PythonSnippet_ReplayWithDuplicatedHeader_IsRefused(string name)
    {
        var request = await CaptureAsync();
        var replay = request.WithDuplicate(name, "other");

        Assert.That(await RunAsync(request, request.SignedAt, headers: replay), Is.EqualTo("duplicate_header"));
        Assert.That(await RunAsync(request, request.SignedAt, headers: replay, cluster: "orders"), Is.EqualTo("duplicate_header"));
    }

    [Test]
    public async Task PythonSnippet_V2ChangedHostClusterNonceOrBody_IsRefused()
    {
        var body = "{\"amount\":1}"u8.ToArray();
        var request = await CaptureAsync("/api/pay", body);
        var t = request.SignedAt;
        var signature = request.Header("X-Gateway-Signature")!;

        Assert.That(request.Header("Content-Digest"), Is.EqualTo(GatewaySignature.ContentDigest(body)));
        Assert.That(await RunAsync(request, t, cluster: "orders"), Is.EqualTo("valid"));
        Assert.That(await RunAsync(request, t, cluster: "orders", headers: request.With("Host", "elsewhere:80")), Is.EqualTo("invalid"));
        Assert.That(await RunAsync(request, t, cluster: "billing", clusterKey: Key("orders")), Is.EqualTo("invalid"));
        Assert.That(await RunAsync(request, t, cluster: "orders",
            headers: request.With("X-Gateway-Signature", signature.Replace("n=" + request.Member("n"), "n=" + new string('B', 22), StringComparison.Ordinal))), Is.EqualTo("invalid"));
        Assert.That(await RunAsync(request, t, cluster: "orders", body: "{\"amount\":9}"u8.ToArray()), Is.EqualTo("body_mismatch"));
        Assert.That(await RunAsync(request, t, cluster: "orders", headers: request.With("Content-Digest", null)), Is.EqualTo("invalid"));
        Assert.That(await RunAsync(request, t, cluster: "orders", headers: request.WithDuplicate("Host", "elsewhere:80")), Is.EqualTo("duplicate_header"));
    }

    [Test]
    public async Task PythonSnippet_V2OtherClustersKey_IsInvalid()
    {
        var billing = await CaptureAsync("/billing/invoices");

        Assert.That(await RunAsync(billing, billing.SignedAt, cluster: "billing"), Is.EqualTo("valid"));
        Assert.That(await RunAsync(billing, billing.SignedAt, cluster: "orders"), Is.EqualTo("invalid"));
        Assert.That(await RunAsync(billing, billing.SignedAt, cluster: "billing", clusterKey: Key("orders")), Is.EqualTo("invalid"));
    }

    [Test]
    public async Task PythonSnippet_V2SecondUseOfNonce_IsReplayed()
    {
        var request = await CaptureAsync();

        Assert.That(await RunAsync(request, request.SignedAt, cluster: "orders", repeat: 2), Is.EqualTo("valid replayed"));
    }

    [Test]
    public async Task PythonSnippet_DeriveClusterKey_MatchesTheGateways()
    {
        var input = JsonSerializer.Serialize(new { secret = Secret, derive = "orders" });

        Assert.That(await PythonAsync(input), Is.EqualTo(Key("orders")));
    }

    [Test]
    public async Task PythonSnippet_ReplayOlderThanTolerance_IsExpired()
    {
        var request = await CaptureAsync();
        var t = request.SignedAt;

        Assert.That(await RunAsync(request, t + 300), Is.EqualTo("valid"));
        Assert.That(await RunAsync(request, t + 301), Is.EqualTo("expired"));
        Assert.That(await RunAsync(request, t + 301, cluster: "orders"), Is.EqualTo("expired"));
    }

    [Test]
    public async Task PythonSnippet_UnknownKid_IsRefused()
    {
        var request = await CaptureAsync();

        Assert.That(await RunAsync(request, request.SignedAt, kid: "other"), Is.EqualTo("unknown_kid"));
        Assert.That(await RunAsync(request, request.SignedAt, kid: "other", cluster: "orders"), Is.EqualTo("unknown_kid"));
    }

    [GeneratedRegex("```python\\n(.*?)```", RegexOptions.Singleline)]
    private static partial Regex PythonBlock();
}
