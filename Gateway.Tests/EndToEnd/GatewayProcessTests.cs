using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Net.Sockets;
using System.Text.Json.Nodes;
using Gateway.Tests.Common;
using WireMock.RequestBuilders;
using WireMock.ResponseBuilders;

namespace Gateway.Tests.EndToEnd;

/// <summary>
/// The real process: configured by environment variables only, and on SIGTERM it
/// finishes in-flight requests, flushes pending usage writes and exits 0.
/// </summary>
public sealed class GatewayProcessTests
{
    [Test]
    public async Task Sigterm_FinishesInFlightRequestFlushesUsageAndExitsZero()
    {
        using var upstream = Upstream.Start();
        upstream.Server.Given(Request.Create().WithPath("/slow")).RespondWith(Response.Create().WithStatusCode(200).WithBody("slow ok").WithDelay(TimeSpan.FromMilliseconds(1500)));
        var (directory, start) = GatewayStart();
        var (proxyPort, adminPort) = (FreePort(), FreePort());
        var env = start.Environment;
        env["Kestrel__Endpoints__Proxy__Url"] = $"http://127.0.0.1:{proxyPort}";
        env["Kestrel__Endpoints__Admin__Url"] = $"http://127.0.0.1:{adminPort}";
        env["Gateway__Store__Path"] = Path.Combine(directory, "gateway.db");
        env["Gateway__Admin__Token"] = GatewayHost.AdminToken;
        env["Gateway__Demo__Enabled"] = "false";
        env["Gateway__Scopes__0"] = "read";
        env["Gateway__Usage__FlushInterval"] = "01:00:00"; // only the shutdown flush can write it
        env["ReverseProxy__Routes__api__ClusterId"] = "api";
        env["ReverseProxy__Routes__api__Match__Path"] = "/{**rest}";
        env["ReverseProxy__Clusters__api__Destinations__d1__Address"] = upstream.Url;

        using var process = Process.Start(start)!;
        process.OutputDataReceived += (_, _) => { };
        process.ErrorDataReceived += (_, _) => { };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        try
        {
            using var admin = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{adminPort}/") };
            admin.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", GatewayHost.AdminToken);
            await WaitUntilAsync(async () => (await admin.GetAsync("healthz")).IsSuccessStatusCode);

            using var created = await admin.PostAsJsonAsync("admin/orgs", new { id = "acme" });
            Assert.That(created.StatusCode, Is.EqualTo(HttpStatusCode.Created));
            var org = (await created.Content.ReadFromJsonAsync<JsonObject>())!;
            var key = org.DefaultKey();
            var keyId = org.DefaultKeyId();

            using var proxy = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{proxyPort}/") };
            proxy.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", key);
            var inFlight = proxy.GetAsync("slow");
            await WaitUntilAsync(() => Task.FromResult(upstream.Received.Count > 0));

            using (var kill = Process.Start("kill", $"-TERM {process.Id}"))
            {
                await kill.WaitForExitAsync();
            }

            using var response = await inFlight;
            Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK));
            Assert.That(await response.Content.ReadAsStringAsync(), Is.EqualTo("slow ok"));

            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            await process.WaitForExitAsync(timeout.Token);
            Assert.That(process.ExitCode, Is.Zero);

            // The usage write happened at shutdown: a new gateway on the same store shows it.
            await using var restarted = await GatewayHost.StartAsync(directory: directory);
            var stored = await restarted.AdminGetAsync($"admin/keys/{keyId}");
            Assert.That(stored["lastUsedAt"], Is.Not.Null);
        }
        finally
        {
            if (!process.HasExited)
            {
                process.Kill();
            }
        }
    }

    [Test]
    public async Task Demo_ShippedSettings_PrintsKeyAndCurlLine_SecondInstanceFailsInOneLine()
    {
        var demoPort = FreePort();
        var (first, firstOutput, _) = StartShipped(demoPort, out var proxyPort);
        try
        {
            // The first start prints the demo key and a curl line that works as printed.
            var curl = new System.Text.RegularExpressions.Regex(@"curl -s (http://127\.0\.0\.1:\d+/demo/hello) -H ""Authorization: Bearer ([A-Za-z0-9_]+)""");
            await WaitUntilAsync(() => Task.FromResult(curl.IsMatch(Read(firstOutput))));
            var match = curl.Match(Read(firstOutput));
            Assert.That(match.Groups[1].Value, Is.EqualTo($"http://127.0.0.1:{proxyPort}/demo/hello"));
            using var client = new HttpClient();
            client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", match.Groups[2].Value);
            using var hello = await client.GetAsync(match.Groups[1].Value);
            Assert.That(hello.StatusCode, Is.EqualTo(HttpStatusCode.OK));
            Assert.That(await hello.Content.ReadAsStringAsync(), Does.Contain("\"X-Org-Id\": \"demo\""));

            // A development key, also saved owner-only in a file the banner names.
            Assert.That(match.Groups[2].Value, Does.StartWith("gw_dev_"));
            var saved = new System.Text.RegularExpressions.Regex(@"Also saved in (\S+) \(mode 0600\)").Match(Read(firstOutput));
            Assert.That(saved.Success, Is.True, Read(firstOutput));
            Assert.That((await File.ReadAllTextAsync(saved.Groups[1].Value)).Trim(), Is.EqualTo(match.Groups[2].Value));
            Assert.That(OperatingSystem.IsWindows() ? default : File.GetUnixFileMode(saved.Groups[1].Value), Is.EqualTo(UnixFileMode.UserRead | UnixFileMode.UserWrite));

            // A second gateway on this host with the demo on: its demo port is taken.
            var (second, secondOutput, secondErrors) = StartShipped(demoPort, out _);
            using (second)
            {
                using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
                await second.WaitForExitAsync(timeout.Token);
                second.WaitForExit(); // drains the redirected output
                Assert.That(second.ExitCode, Is.EqualTo(1));
                var text = Read(secondOutput) + Read(secondErrors);
                var lines = Read(secondErrors).Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
                Assert.That(lines, Has.Length.EqualTo(1), text);
                Assert.That(lines[0], Does.StartWith("Gateway did not start: Gateway:Demo:Url"));
                Assert.That(lines[0], Does.Contain(demoPort.ToString(System.Globalization.CultureInfo.InvariantCulture)));
                Assert.That(text, Does.Not.Contain(" at "), "no stack trace");
            }
        }
        finally
        {
            if (!first.HasExited)
            {
                first.Kill();
            }

            first.Dispose();
        }
    }

    [Test]
    public async Task AdminTokenFileUnreadable_ExitsOneWithOneLineNamingIt()
    {
        // Exit 134 and some 560 lines of Data Protection stack traces before.
        var (directory, start) = GatewayStart();
        var path = Path.Combine(directory, "tok", "admin-token");
        Directory.CreateDirectory(path);
        start.Environment["Kestrel__Endpoints__Proxy__Url"] = $"http://127.0.0.1:{FreePort()}";
        start.Environment["Kestrel__Endpoints__Admin__Url"] = $"http://127.0.0.1:{FreePort()}";
        start.Environment["Gateway__Store__Path"] = Path.Combine("tok", "gateway.db");
        start.Environment["Gateway__Admin__Token"] = "";
        start.Environment["Gateway__Demo__Enabled"] = "false";

        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var errors = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        await process.WaitForExitAsync(timeout.Token);

        var lines = (await errors).Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        Assert.That(process.ExitCode, Is.EqualTo(1), await output + await errors);
        Assert.That(lines, Has.Length.EqualTo(1), await errors);
        Assert.That(lines[0], Does.StartWith("Gateway did not start: Gateway:Admin:Token").And.Contain(path));
        Assert.That(await output + await errors, Does.Not.Contain(" at "), "no stack trace");
    }

    private static string Read(System.Text.StringBuilder output)
    {
        lock (output)
        {
            return output.ToString();
        }
    }

    /// <summary>The published gateway with the shipped appsettings.json (demo on) in a fresh directory, on free ports.</summary>
    /// <returns>The process, what it wrote to stdout (logs, the demo banner) and to stderr (start-up failures).</returns>
    [Test]
    public async Task PublishedDll_RunFromADirectoryWithoutSettings_ReadsTheAppsettingsNextToIt()
    {
        // The shipped appsettings.json (demo on) is only next to Gateway.dll; the working directory has none.
        var (process, output, _) = StartShipped(FreePort(), out _, copySettings: false);
        try
        {
            await WaitUntilAsync(() => Task.FromResult(Read(output).Contains("/demo/hello", StringComparison.Ordinal)));
        }
        finally
        {
            if (!process.HasExited)
            {
                process.Kill();
            }

            process.Dispose();
        }
    }

    private static (Process Process, System.Text.StringBuilder Output, System.Text.StringBuilder Errors) StartShipped(int demoPort, out int proxyPort, bool copySettings = true)
    {
        var (directory, start) = GatewayStart();
        if (copySettings)
        {
            File.Copy(Path.Combine(AppContext.BaseDirectory, "appsettings.json"), Path.Combine(directory, "appsettings.json"));
        }

        proxyPort = FreePort();
        start.Environment["Kestrel__Endpoints__Proxy__Url"] = $"http://127.0.0.1:{proxyPort}";
        start.Environment["Kestrel__Endpoints__Admin__Url"] = $"http://127.0.0.1:{FreePort()}";
        start.Environment["Gateway__Demo__Url"] = $"http://127.0.0.1:{demoPort}";
        var (output, errors) = (new System.Text.StringBuilder(), new System.Text.StringBuilder());
        var process = Process.Start(start)!;
        static void Append(System.Text.StringBuilder to, string? line)
        {
            if (line is not null)
            {
                lock (to)
                {
                    to.Append(line).Append('\n');
                }
            }
        }

        process.OutputDataReceived += (_, e) => Append(output, e.Data);
        process.ErrorDataReceived += (_, e) => Append(errors, e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return (process, output, errors);
    }

    private static Task WaitUntilAsync(Func<Task<bool>> condition) => Eventually.HoldsAsync(condition, TimeSpan.FromSeconds(30));

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    /// <summary>The built gateway as a child process, run from a fresh temporary directory (its working directory).</summary>
    private static (string Directory, ProcessStartInfo Start) GatewayStart()
    {
        var directory = Path.Combine(Path.GetTempPath(), "gw-tests", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(directory);
        var start = new ProcessStartInfo("dotnet")
        {
            UseShellExecute = false,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = directory,
        };
        start.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "Gateway.dll"));
        return (directory, start);
    }
}
