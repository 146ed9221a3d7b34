using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace Gateway.Tests.Common;

/// <summary>
/// A real redis-server (Debian package) on a free loopback port, owned by the test that started it.
/// Kill/Pause/Resume/Restart drive outage tests with real signals.
/// </summary>
public sealed class RedisServer : IDisposable
{
    private static readonly Lazy<RedisServer> SharedInstance = new(() => Start(), LazyThreadSafetyMode.ExecutionAndPublication);
    private readonly string _directory;
    private readonly string[] _extraArgs;
    private Process _process;

    private RedisServer(int port, string directory, string[] extraArgs, Process process)
    {
        Port = port;
        _directory = directory;
        _extraArgs = extraArgs;
        _process = process;
    }

    /// <summary>One server for the whole test run; tests isolate themselves with a unique key prefix.</summary>
    public static RedisServer Shared => SharedInstance.Value;

    public static bool IsSharedStarted => SharedInstance.IsValueCreated;

    public int Port { get; }

    public string ConnectionString => $"127.0.0.1:{Port}";

    /// <param name="extraArgs">More <c>redis-server</c> arguments (e.g. <c>--requirepass</c>, <c>--tls-port</c>); the plain port stays open for readiness.</param>
    public static RedisServer Start(params string[] extraArgs)
    {
        var port = FreePort();
        var directory = Path.Combine(Path.GetTempPath(), "gw-redis", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(directory);
        var server = new RedisServer(port, directory, extraArgs, Launch(port, directory, extraArgs));
        server.WaitUntilReady();
        return server;
    }

    /// <summary>SIGKILL: the server is gone, connections drop.</summary>
    public void Kill()
    {
        if (!_process.HasExited)
        {
            _process.Kill();
            _process.WaitForExit();
        }
    }

    /// <summary>SIGSTOP: the server hangs; connections stay open and nothing answers.</summary>
    public void Pause() => Signal("STOP");

    /// <summary>SIGCONT after <see cref="Pause"/>.</summary>
    public void Resume() => Signal("CONT");

    /// <summary>Starts a new (empty) server on the same port after <see cref="Kill"/>.</summary>
    public void Restart()
    {
        Kill();
        _process.Dispose();
        _process = Launch(Port, _directory, _extraArgs);
        WaitUntilReady();
    }

    public void Dispose()
    {
        try
        {
            Resume();
            Kill();
        }
        catch (InvalidOperationException)
        {
        }

        _process.Dispose();
        try
        {
            Directory.Delete(_directory, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    private void Signal(string signal)
    {
        using var kill = Process.Start(new ProcessStartInfo("kill", $"-{signal} {_process.Id}") { UseShellExecute = false })!;
        kill.WaitForExit();
    }

    private void WaitUntilReady()
    {
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (DateTime.UtcNow < deadline)
        {
            try
            {
                using var client = new TcpClient();
                client.Connect(IPAddress.Loopback, Port);
                using var stream = client.GetStream();
                stream.Write("PING\r\n"u8);
                var buffer = new byte[16];
                var read = stream.Read(buffer);
                // With requirepass the server is up when it asks for authentication.
                var reply = read >= 5 ? System.Text.Encoding.ASCII.GetString(buffer, 0, read) : "";
                if (reply.StartsWith("+PONG", StringComparison.Ordinal) || reply.StartsWith("-NOAUTH", StringComparison.Ordinal))
                {
                    return;
                }
            }
            catch (SocketException)
            {
            }

            Thread.Sleep(20);
        }

        throw new InvalidOperationException($"redis-server did not start on port {Port}.");
    }

    private static Process Launch(int port, string directory, string[] extraArgs)
    {
        var start = new ProcessStartInfo("redis-server")
        {
            UseShellExecute = false,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = directory,
        };
        foreach (var arg in (string[])[ "--port", port.ToString(System.Globalization.CultureInfo.InvariantCulture), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--daemonize", "no", "--dir", directory, "--loglevel", "warning", .. extraArgs])
        {
            start.ArgumentList.Add(arg);
        }

        var process = Process.Start(start) ?? throw new InvalidOperationException("Could not start redis-server; install the Debian package redis-server.");
        process.OutputDataReceived += (_, _) => { };
        process.ErrorDataReceived += (_, _) => { };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return process;
    }

    /// <summary>A free loopback port (for a second listener such as <c>--tls-port</c>).</summary>
    public static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
