using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Gateway.Tests.Common;

/// <summary>
/// A real Sentinel deployment on free loopback ports: a primary, one replica and three
/// <c>redis-sentinel</c> processes (Debian packages redis-server and redis-sentinel) watching them with
/// short timeouts, so a killed primary is replaced within seconds. Owned by the test that started it.
/// </summary>
public sealed class RedisSentinelSet : IDisposable
{
    public const string ServiceName = "gwtest";

    private readonly string _directory;
    private readonly List<Process> _processes = [];

    private RedisSentinelSet(string directory) => _directory = directory;

    /// <summary>The node that was primary when the set started.</summary>
    public int PrimaryPort { get; private set; }

    /// <summary>The node that was a replica when the set started (the one promoted on failover).</summary>
    public int ReplicaPort { get; private set; }

    public IReadOnlyList<int> SentinelPorts { get; private set; } = [];

    /// <summary>A StackExchange.Redis connection string that finds the primary through the sentinels.</summary>
    public string ConnectionString =>
        string.Join(',', SentinelPorts.Select(p => $"127.0.0.1:{p}")) + $",serviceName={ServiceName}";

    private Process Primary => _processes[0];

    /// <summary>Starts everything and waits until every sentinel sees the replica and the two other sentinels.</summary>
    public static RedisSentinelSet Start()
    {
        var directory = Path.Combine(Path.GetTempPath(), "gw-sentinel", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(directory);
        var set = new RedisSentinelSet(directory);
        try
        {
            set.Launch();
            return set;
        }
        catch
        {
            set.Dispose();
            throw;
        }
    }

    /// <summary>SIGKILL of the primary: no shutdown, no last replication, connections drop.</summary>
    public void KillPrimary()
    {
        if (!Primary.HasExited)
        {
            Primary.Kill();
            Primary.WaitForExit();
        }
    }

    /// <summary>
    /// Starts the killed primary again as it was first started, a primary by its own settings and empty: what a
    /// crashed primary does when it comes back before the sentinels have made it a replica of the new one.
    /// </summary>
    public void RestartOldPrimaryAsPrimary()
    {
        _processes.Add(Run("redis-server", Node(PrimaryPort, "primary")));
        WaitForPing(PrimaryPort);
    }

    /// <summary>The port the sentinels currently report for the primary.</summary>
    public int ReportedPrimaryPort() =>
        int.Parse(Command(SentinelPorts[0], "SENTINEL", "get-master-addr-by-name", ServiceName)[1]!, CultureInfo.InvariantCulture);

    /// <summary>One command on a node; the reply flattened to strings (nested arrays in order, nil as null).</summary>
    public static List<string?> Command(int port, params string[] args) => Commands(port, args);

    /// <summary>Several commands on one connection (e.g. AUTH first); the reply of the last, flattened as by <see cref="Command"/>.</summary>
    public static List<string?> Commands(int port, params string[][] commands)
    {
        using var client = new TcpClient();
        client.Connect(IPAddress.Loopback, port);
        client.ReceiveTimeout = 5000;
        using var stream = client.GetStream();
        using var reader = new BufferedStream(stream);
        var values = new List<string?>();
        foreach (var args in commands)
        {
            var request = new StringBuilder().Append('*').Append(args.Length).Append("\r\n");
            foreach (var arg in args)
            {
                request.Append('$').Append(Encoding.UTF8.GetByteCount(arg)).Append("\r\n").Append(arg).Append("\r\n");
            }

            stream.Write(Encoding.UTF8.GetBytes(request.ToString()));
            values.Clear();
            Read(reader, values);
        }

        return values;
    }

    private static void Read(Stream reader, List<string?> values)
    {
        var line = ReadLine(reader);
        var rest = line[1..];
        switch (line[0])
        {
            case '+' or ':':
                values.Add(rest);
                break;
            case '-':
                throw new InvalidOperationException("Redis error: " + rest);
            case '$':
                var length = int.Parse(rest, CultureInfo.InvariantCulture);
                if (length < 0)
                {
                    values.Add(null);
                    break;
                }

                var bytes = new byte[length + 2];
                reader.ReadExactly(bytes);
                values.Add(Encoding.UTF8.GetString(bytes, 0, length));
                break;
            case '*':
                var count = int.Parse(rest, CultureInfo.InvariantCulture);
                for (var i = 0; i < count; i++)
                {
                    Read(reader, values);
                }

                break;
            default:
                throw new InvalidOperationException("Unexpected reply: " + line);
        }
    }

    private static string ReadLine(Stream reader)
    {
        var line = new StringBuilder();
        int b;
        while ((b = reader.ReadByte()) != '\n')
        {
            if (b < 0)
            {
                throw new IOException("Connection closed.");
            }

            if (b != '\r')
            {
                line.Append((char)b);
            }
        }

        return line.ToString();
    }

    public void Dispose()
    {
        foreach (var process in _processes)
        {
            RedisProcesses.Stop(process);
        }

        try
        {
            Directory.Delete(_directory, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    private void Launch()
    {
        PrimaryPort = FreePort();
        ReplicaPort = FreePort();
        SentinelPorts = [FreePort(), FreePort(), FreePort()];

        _processes.Add(Run("redis-server", Node(PrimaryPort, "primary")));
        WaitForPing(PrimaryPort);
        _processes.Add(Run("redis-server", [.. Node(ReplicaPort, "replica"), "--replicaof", "127.0.0.1", Port(PrimaryPort)]));
        WaitUntil(() => Command(ReplicaPort, "INFO", "replication")[0]!.Contains("master_link_status:up", StringComparison.Ordinal), "the replica to sync");

        foreach (var port in SentinelPorts)
        {
            var config = Path.Combine(_directory, $"sentinel-{port}.conf");

            // Sentinel rewrites its own file (it records the replicas and peers it discovers).
            File.WriteAllText(config, $"""
                port {port}
                bind 127.0.0.1
                daemonize no
                dir {_directory}
                logfile ""
                loglevel warning
                sentinel monitor {ServiceName} 127.0.0.1 {PrimaryPort} 2
                sentinel down-after-milliseconds {ServiceName} 500
                sentinel failover-timeout {ServiceName} 3000
                sentinel parallel-syncs {ServiceName} 1

                """);
            _processes.Add(Run("redis-sentinel", [config]));
        }

        foreach (var port in SentinelPorts)
        {
            WaitForPing(port);
            WaitUntil(
                () =>
                {
                    var master = Command(port, "SENTINEL", "master", ServiceName);
                    return Field(master, "num-slaves") == "1" && Field(master, "num-other-sentinels") == "2" && Field(master, "flags") == "master";
                },
                $"sentinel {port} to see the replica and its peers");
        }
    }

    private string[] Node(int port, string name)
    {
        var directory = Path.Combine(_directory, name);
        Directory.CreateDirectory(directory);

        // No disk: the failover must rely on replication alone. Diskless sync without delay makes the
        // replica ready in milliseconds instead of the default five seconds.
        return ["--port", Port(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--daemonize", "no",
            "--dir", directory, "--loglevel", "warning", "--repl-diskless-sync", "yes", "--repl-diskless-sync-delay", "0"];
    }

    /// <summary>The value after <paramref name="name"/> in a flat reply of name/value pairs.</summary>
    private static string? Field(List<string?> reply, string name)
    {
        var i = reply.IndexOf(name);
        return i >= 0 && i + 1 < reply.Count ? reply[i + 1] : null;
    }

    private static void WaitForPing(int port) =>
        WaitUntil(() => Command(port, "PING")[0] == "PONG", $"port {port} to answer PING");

    private static void WaitUntil(Func<bool> condition, string what) => RedisProcesses.WaitUntil(condition, what, TimeSpan.FromSeconds(30));

    private static Process Run(string program, IEnumerable<string> args) => RedisProcesses.Run(program, args);

    private static string Port(int port) => port.ToString(CultureInfo.InvariantCulture);

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
