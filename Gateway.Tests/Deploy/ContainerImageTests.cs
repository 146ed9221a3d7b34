using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Gateway.Cli;
using Gateway.Tests.Common;

namespace Gateway.Tests.Deploy;

/// <summary>
/// No Docker engine runs here, so the image is checked the next best way: the publish output, started
/// with exactly the Dockerfile's ENV (plus the aspnet base image's own), its WORKDIR layout and its
/// ENTRYPOINT, in a network namespace of its own so the image's fixed ports 8080/8081 clash with nothing,
/// serves both listeners and passes the Dockerfile's HEALTHCHECK command.
/// </summary>
[NonParallelizable]
public sealed class ContainerImageTests
{
    /// <summary>What mcr.microsoft.com/dotnet/aspnet:10.0 itself sets; the Dockerfile's ENV comes on top.</summary>
    private static readonly Dictionary<string, string> BaseImageEnvironment = new()
    {
        ["ASPNETCORE_HTTP_PORTS"] = "8080",
        ["DOTNET_RUNNING_IN_CONTAINER"] = "true",
        ["APP_UID"] = "1654",
    };

    [Test]
    public async Task PublishedImage_StartedWithDockerfileEnvironmentAndEntrypoint_ServesAndPassesHealthcheck()
    {
        if (!await NamespacesAvailableAsync())
        {
            Assert.Ignore("needs `unshare -n` (root) to give the image's fixed ports a network of their own");
        }

        var dockerfile = Dockerfile.Load();
        Assert.That(dockerfile.Entrypoint, Is.EqualTo(new[] { "dotnet", "Gateway.dll" }));
        Assert.That(dockerfile.HealthCheck.Take(2), Is.EqualTo(new[] { "dotnet", "Gateway.dll" }), "HEALTHCHECK must use the binary: the runtime image has no curl");
        Assert.That(dockerfile.HealthCheck, Does.Contain("healthcheck"));
        var proxyPort = new Uri(dockerfile.Environment["Kestrel__Endpoints__Proxy__Url"]).Port;
        var adminPort = new Uri(dockerfile.Environment["Kestrel__Endpoints__Admin__Url"]).Port;
        Assert.That(dockerfile.Exposed, Is.EquivalentTo(new[] { proxyPort, adminPort }));

        // WORKDIR /app holds the publish output; /app/data is the volume.
        var app = Path.Combine(Path.GetTempPath(), "gw-tests", "image-" + Guid.NewGuid().ToString("N"));
        CopyDirectory(await PublishedGateway.DirectoryAsync(), app);
        Directory.CreateDirectory(Path.Combine(app, "data"));
        var environment = ImageEnvironment(dockerfile, app);

        var start = Start(app, environment, ["unshare", "-n", "--", "bash", "-c", "ip link set lo up && exec \"$@\"", "entrypoint", .. dockerfile.Entrypoint]);
        using var gateway = Process.Start(start)!;
        var log = new System.Text.StringBuilder();
        gateway.OutputDataReceived += (_, e) => { lock (log) { log.AppendLine(e.Data); } };
        gateway.ErrorDataReceived += (_, e) => { lock (log) { log.AppendLine(e.Data); } };
        gateway.BeginOutputReadLine();
        gateway.BeginErrorReadLine();
        string[] InNamespace(params string[] command) => ["nsenter", "-t", gateway.Id.ToString(System.Globalization.CultureInfo.InvariantCulture), "-n", "--", .. command];
        try
        {
            // The HEALTHCHECK command, run as Docker would: same image environment and working directory.
            await Eventually.HoldsAsync(
                async () =>
                {
                    Assert.That(gateway.HasExited, Is.False, () => "gateway exited: " + log);
                    return (await RunAsync(app, environment, InNamespace(dockerfile.HealthCheck))).Exit == 0;
                },
                TimeSpan.FromSeconds(90),
                "the image's HEALTHCHECK passing");

            var ready = await RunAsync(app, environment, InNamespace(RawGet(adminPort, "/readyz")));
            Assert.That(ready.Output, Does.StartWith("HTTP/1.1 200"));

            // The proxy listener serves on the image's port (and is not the admin listener).
            var proxied = await RunAsync(app, environment, InNamespace(RawGet(proxyPort, "/readyz")));
            Assert.That(proxied.Output, Does.StartWith("HTTP/1.1 404"));
            Assert.That(proxied.Output, Does.Contain("\"code\":\"no_route\""));

            // Admin endpoints are not on the proxy port, so the healthcheck pointed there fails.
            var wrongPort = await RunAsync(app, environment, InNamespace([.. dockerfile.HealthCheck, "--url", $"http://127.0.0.1:{proxyPort}/healthz"]));
            Assert.That(wrongPort.Exit, Is.EqualTo(1));

            // The admin token was generated into the data volume, mode 0600.
            Assert.That(OperatingSystem.IsWindows() ? default : File.GetUnixFileMode(Path.Combine(app, "data", "admin-token")), Is.EqualTo(UnixFileMode.UserRead | UnixFileMode.UserWrite));

            Assert.That(dockerfile.StopSignal, Is.EqualTo("SIGTERM"));
            using (var kill = Process.Start("kill", $"-TERM {gateway.Id}"))
            {
                await kill.WaitForExitAsync();
            }

            using var stopped = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            await gateway.WaitForExitAsync(stopped.Token);
            Assert.That(gateway.ExitCode, Is.Zero, () => log.ToString());
        }
        finally
        {
            if (!gateway.HasExited)
            {
                gateway.Kill();
            }

            try
            {
                Directory.Delete(app, recursive: true);
            }
            catch (IOException)
            {
            }
        }
    }

    [Test]
    public async Task Healthcheck_NothingListening_ExitsOne()
    {
        var output = new StringWriter();
        var error = new StringWriter();
        var code = await AdminCli.RunAsync(["healthcheck", "--url", $"http://127.0.0.1:{FreePort()}/healthz", "--timeout", "00:00:05"], output, error);
        Assert.That(code, Is.EqualTo(1));
        Assert.That(error.ToString(), Does.StartWith("unhealthy"));
    }

    [Test]
    public async Task Healthcheck_RunningGatewayAdminUrlFromEnvironment_ExitsZero()
    {
        await using var gateway = await GatewayHost.StartAsync();
        var variable = "Kestrel__Endpoints__Admin__Url";
        var before = Environment.GetEnvironmentVariable(variable);
        // A wildcard bind address, as in the image, is probed on loopback.
        Environment.SetEnvironmentVariable(variable, $"http://0.0.0.0:{gateway.AdminUrl.Port}");
        try
        {
            var output = new StringWriter();
            var code = await AdminCli.RunAsync(["healthcheck"], output, new StringWriter());
            Assert.That(code, Is.Zero);
            Assert.That(output.ToString(), Does.Contain($"http://127.0.0.1:{gateway.AdminUrl.Port}/healthz"));
        }
        finally
        {
            Environment.SetEnvironmentVariable(variable, before);
        }
    }

    private static Dictionary<string, string> ImageEnvironment(Dockerfile dockerfile, string app)
    {
        var environment = new Dictionary<string, string>(BaseImageEnvironment)
        {
            ["PATH"] = Environment.GetEnvironmentVariable("PATH") + ":/usr/sbin:/sbin",
            ["HOME"] = app,
        };
        if (Environment.GetEnvironmentVariable("DOTNET_ROOT") is { } root)
        {
            environment["DOTNET_ROOT"] = root;
        }

        foreach (var (key, value) in dockerfile.Environment)
        {
            environment[key] = value;
        }

        return environment;
    }

    private static ProcessStartInfo Start(string directory, Dictionary<string, string> environment, string[] command)
    {
        var start = new ProcessStartInfo(command[0])
        {
            UseShellExecute = false,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = directory,
        };
        foreach (var argument in command.Skip(1))
        {
            start.ArgumentList.Add(argument);
        }

        start.Environment.Clear();
        foreach (var (key, value) in environment)
        {
            start.Environment[key] = value;
        }

        return start;
    }

    private static async Task<(int Exit, string Output)> RunAsync(string directory, Dictionary<string, string> environment, string[] command)
    {
        using var process = Process.Start(Start(directory, environment, command))!;
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        await process.WaitForExitAsync(timeout.Token);
        return (process.ExitCode, await output + await error);
    }

    /// <summary>An HTTP GET without curl: bash's /dev/tcp, as the only client inside the namespace.</summary>
    private static string[] RawGet(int port, string path) =>
        ["bash", "-c", $"exec 3<>/dev/tcp/127.0.0.1/{port} && printf 'GET {path} HTTP/1.1\\r\\nHost: localhost\\r\\nConnection: close\\r\\n\\r\\n' >&3 && timeout 10 cat <&3"];

    private static async Task<bool> NamespacesAvailableAsync()
    {
        try
        {
            var (exit, _) = await RunAsync(Path.GetTempPath(), new() { ["PATH"] = Environment.GetEnvironmentVariable("PATH") + ":/usr/sbin:/sbin" }, ["unshare", "-n", "--", "true"]);
            return exit == 0;
        }
        catch (System.ComponentModel.Win32Exception)
        {
            return false;
        }
    }

    private static void CopyDirectory(string source, string target)
    {
        foreach (var directory in Directory.EnumerateDirectories(source, "*", SearchOption.AllDirectories))
        {
            Directory.CreateDirectory(directory.Replace(source, target, StringComparison.Ordinal));
        }

        Directory.CreateDirectory(target);
        foreach (var file in Directory.EnumerateFiles(source, "*", SearchOption.AllDirectories))
        {
            File.Copy(file, file.Replace(source, target, StringComparison.Ordinal));
        }
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
