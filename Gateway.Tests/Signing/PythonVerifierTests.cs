using System.Diagnostics;
using System.Text.Json;
using System.Text.RegularExpressions;
using Gateway.Tests.Common;

namespace Gateway.Tests.Signing;

/// <summary>
/// The Python verifier published in docs/signing.md, run as python3 subprocess on requests a real
/// upstream received from the gateway.
/// </summary>
public sealed partial class PythonVerifierTests
{
    private const string Secret = "py-secret-0123456789abcdefghijklmnopqrstuvwxyz";

    private RecordingUpstream _upstream = null!;
    private GatewayHost _gateway = null!;
    private string _key = null!;
    private string _script = null!;

    [OneTimeSetUp]
    public async Task StartAsync()
    {
        var docs = await File.ReadAllTextAsync(RepositoryFiles.PathOf("docs", "signing.md"));
        var snippet = PythonBlock().Match(docs);
        Assert.That(snippet.Success, "docs/signing.md has no ```python block");
        _script = Path.Combine(Path.GetTempPath(), $"gw-verify-{Guid.NewGuid():N}.py");
        await File.WriteAllTextAsync(_script, snippet.Groups[1].Value + """

            if __name__ == "__main__":
                import json, sys
                r = json.load(sys.stdin)
                print(verify_gateway_signature(r["secrets"], r["method"], r["target"], r["headers"], r["tolerance"], r["now"]))
            """);

        _upstream = await RecordingUpstream.StartAsync();
        var settings = GatewayHost.Routes(_upstream.Url, ("open", "/api/{**rest}", []));
        settings["Gateway:Signing:Secrets:0:Id"] = "py1";
        settings["Gateway:Signing:Secrets:0:Secret"] = Secret;
        _gateway = await GatewayHost.StartAsync(settings);
        await _gateway.CreateOrgAsync("pyorg");
        _key = (await _gateway.CreateKeyAsync("pyorg", new { name = "py", customerId = "c-1" })).Str("key");
    }

    [OneTimeTearDown]
    public async Task StopAsync()
    {
        if (_gateway is not null)
        {
            await _gateway.DisposeAsync();
        }

        if (_upstream is not null)
        {
            await _upstream.DisposeAsync();
        }

        File.Delete(_script);
    }

    private async Task<(ReceivedRequest Request, long SignedAt)> CaptureAsync()
    {
        _upstream.Reset();
        using var response = await _gateway.CallAsync("/api/things/%C3%A9?x=1&y=%2F", _key);
        Assert.That((int)response.StatusCode, Is.EqualTo(200));
        var request = _upstream.Only();
        var t = long.Parse(request.Header("X-Gateway-Signature")!.Split(',')[0][2..], System.Globalization.CultureInfo.InvariantCulture);
        return (request, t);
    }

    private async Task<string> RunAsync(ReceivedRequest request, long now, string? method = null, IReadOnlyDictionary<string, string>? headers = null, string kid = "py1")
    {
        var input = JsonSerializer.Serialize(new
        {
            secrets = new Dictionary<string, string> { [kid] = Secret },
            method = method ?? request.Method,
            target = request.RawTarget,
            headers = headers ?? request.Headers,
            tolerance = 300,
            now,
        });
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

    [Test]
    public async Task PythonSnippet_RequestTheGatewaySent_IsValid()
    {
        var (request, t) = await CaptureAsync();

        Assert.That(request.RawTarget, Is.EqualTo("/api/things/%C3%A9?x=1&y=%2F"));
        Assert.That(await RunAsync(request, t + 1), Is.EqualTo("valid"));
    }

    [TestCase("X-Key-Scopes")]
    [TestCase("X-Org-Id")]
    [TestCase("X-Customer-Id")]
    public async Task PythonSnippet_ChangedHeader_IsInvalid(string name)
    {
        var (request, t) = await CaptureAsync();
        var headers = new Dictionary<string, string>(request.Headers, StringComparer.OrdinalIgnoreCase) { [name] = "changed" };

        Assert.That(await RunAsync(request, t, headers: headers), Is.EqualTo("invalid"));
        Assert.That(await RunAsync(request, t, method: "PUT"), Is.EqualTo("invalid"));
    }

    [Test]
    public async Task PythonSnippet_ReplayOlderThanTolerance_IsExpired()
    {
        var (request, t) = await CaptureAsync();

        Assert.That(await RunAsync(request, t + 300), Is.EqualTo("valid"));
        Assert.That(await RunAsync(request, t + 301), Is.EqualTo("expired"));
    }

    [Test]
    public async Task PythonSnippet_UnknownKid_IsRefused()
    {
        var (request, t) = await CaptureAsync();

        Assert.That(await RunAsync(request, t, kid: "other"), Is.EqualTo("unknown_kid"));
    }

    [GeneratedRegex("```python\\n(.*?)```", RegexOptions.Singleline)]
    private static partial Regex PythonBlock();
}
