using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;

namespace Gateway.Tests.Common;

/// <summary>
/// A real three-master Redis Cluster on free loopback ports: three <c>redis-server --cluster-enabled yes</c>
/// processes joined by <c>redis-cli --cluster create</c> (no replicas), ready once every node reports
/// <c>cluster_state:ok</c> with all 16384 slots assigned and both peers known. Owned by the fixture that
/// started it; anything still running when the test run ends (also an aborted one) is killed by
/// <see cref="TestRunCleanup"/> or at process exit.
/// </summary>
public sealed class RedisCluster : IDisposable
{
    private const int Nodes = 3;

    // Each node also listens on its port + 10000 for the cluster bus.
    private const int BusOffset = 10000;
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(60);
    private static readonly ConcurrentDictionary<RedisCluster, bool> Live = new();

    private readonly string _directory;
    private readonly List<Process> _processes = [];

    static RedisCluster() => AppDomain.CurrentDomain.ProcessExit += (_, _) => DisposeAll();

    private RedisCluster(string directory) => _directory = directory;

    public IReadOnlyList<int> Ports { get; private set; } = [];

    /// <summary>Every node, as StackExchange.Redis expects a cluster (it discovers the slot map from any of them).</summary>
    public string ConnectionString => string.Join(',', Ports.Select(p => $"127.0.0.1:{p}"));

    /// <param name="extraArgs">More <c>redis-server</c> arguments for every node (e.g. <c>--requirepass</c>).</param>
    public static RedisCluster Start(params string[] extraArgs)
    {
        var directory = Path.Combine(Path.GetTempPath(), "gw-cluster", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(directory);
        var cluster = new RedisCluster(directory);
        Live[cluster] = true;
        try
        {
            cluster.Launch(extraArgs);
            return cluster;
        }
        catch
        {
            cluster.Dispose();
            throw;
        }
    }

    /// <summary>Kills every cluster a fixture did not stop (an aborted or failed run).</summary>
    public static void DisposeAll()
    {
        foreach (var cluster in Live.Keys)
        {
            cluster.Dispose();
        }
    }

    /// <summary>One command on one node (no redirection is followed); the reply flattened to strings.</summary>
    public static List<string?> Command(int port, params string[] args) => RedisSentinelSet.Command(port, args);

    /// <summary>The slot Redis Cluster assigns to <paramref name="key"/> (asked of the cluster, not computed here).</summary>
    public int KeySlot(string key) => int.Parse(Command(Ports[0], "CLUSTER", "KEYSLOT", key)[0]!, CultureInfo.InvariantCulture);

    /// <summary>The port of the node that owns <paramref name="key"/>'s slot: the one that answers for it instead of redirecting.</summary>
    public int NodeOf(string key)
    {
        foreach (var port in Ports)
        {
            try
            {
                Command(port, "EXISTS", key);
                return port;
            }
            catch (InvalidOperationException ex) when (ex.Message.Contains("MOVED", StringComparison.Ordinal))
            {
            }
        }

        throw new InvalidOperationException($"No node owns the slot of {key}.");
    }

    /// <summary>Sends <paramref name="signal"/> (<c>STOP</c> to freeze, <c>CONT</c> to resume) to the node on <paramref name="port"/>.</summary>
    public void Signal(int port, string signal)
    {
        Process node;
        lock (_processes)
        {
            // The nodes were started first, in the order of their ports.
            node = _processes[Ports.ToList().IndexOf(port)];
        }

        using var kill = Process.Start(new ProcessStartInfo("kill", $"-{signal} {node.Id}") { UseShellExecute = false })!;
        kill.WaitForExit();
    }

    /// <summary>The keys matching <paramref name="pattern"/> on every node, with the port of the node holding each.</summary>
    public IReadOnlyList<(int Port, string Key)> Keys(string pattern) =>
        Ports.SelectMany(port => Command(port, "KEYS", pattern).Select(key => (port, key!))).ToList();

    public void Dispose()
    {
        Live.TryRemove(this, out _);
        lock (_processes)
        {
            foreach (var process in _processes)
            {
                RedisProcesses.Stop(process);
            }

            _processes.Clear();
        }

        try
        {
            Directory.Delete(_directory, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    private void Launch(string[] extraArgs)
    {
        var ports = new List<int>();
        while (ports.Count < Nodes)
        {
            var port = FreePortWithFreeBus();
            if (!ports.Contains(port))
            {
                ports.Add(port);
            }
        }

        Ports = ports;
        foreach (var port in ports)
        {
            var directory = Path.Combine(_directory, Port(port));
            Directory.CreateDirectory(directory);
            Track(Run("redis-server", [
                "--port", Port(port), "--bind", "127.0.0.1", "--daemonize", "no", "--dir", directory,
                "--save", "", "--appendonly", "no", "--loglevel", "warning",
                "--cluster-enabled", "yes", "--cluster-config-file", Path.Combine(directory, "nodes.conf"),
                // A loaded 2-core machine can stall a node for a while; it must not be voted out meanwhile.
                "--cluster-node-timeout", "15000",
                .. extraArgs,
            ]));
        }

        var auth = AuthArgs(extraArgs);
        foreach (var port in ports)
        {
            WaitUntil(() => Ping(port, auth), $"node {port} to answer PING");
        }

        var create = Run("redis-cli", [
            .. auth.Length == 0 ? Array.Empty<string>() : ["-a", auth[^1], "--no-auth-warning"],
            "--cluster", "create", .. ports.Select(p => $"127.0.0.1:{p}"), "--cluster-replicas", "0", "--cluster-yes",
        ], captureOutput: true);
        Track(create);
        if (!create.WaitForExit((int)Deadline.TotalMilliseconds))
        {
            throw new InvalidOperationException("redis-cli --cluster create did not finish.");
        }

        create.WaitForExit();
        if (create.ExitCode != 0)
        {
            throw new InvalidOperationException($"redis-cli --cluster create failed ({create.ExitCode}): {create.StandardOutput.ReadToEnd()}{create.StandardError.ReadToEnd()}");
        }

        foreach (var port in ports)
        {
            WaitUntil(
                () =>
                {
                    var info = Authenticated(port, auth, "CLUSTER", "INFO")[^1]!;
                    return info.Contains("cluster_state:ok", StringComparison.Ordinal)
                        && info.Contains("cluster_slots_ok:16384", StringComparison.Ordinal)
                        && info.Contains($"cluster_known_nodes:{Nodes}", StringComparison.Ordinal);
                },
                $"node {port} to report cluster_state:ok");
        }
    }

    private void Track(Process process)
    {
        lock (_processes)
        {
            _processes.Add(process);
        }
    }

    /// <summary>AUTH arguments matching a <c>--requirepass</c> among the node arguments (none otherwise).</summary>
    private static string[] AuthArgs(string[] extraArgs)
    {
        var i = Array.IndexOf(extraArgs, "--requirepass");
        return i >= 0 ? ["AUTH", extraArgs[i + 1]] : [];
    }

    /// <summary>One command after AUTH when needed, on one connection; the reply of the last command.</summary>
    private static List<string?> Authenticated(int port, string[] auth, params string[] args) =>
        auth.Length == 0 ? Command(port, args) : RedisSentinelSet.Commands(port, auth, args);

    private static bool Ping(int port, string[] auth) => Authenticated(port, auth, "PING")[^1] == "PONG";

    private static void WaitUntil(Func<bool> condition, string what) => RedisProcesses.WaitUntil(condition, what, Deadline);

    private static Process Run(string program, IEnumerable<string> args, bool captureOutput = false) => RedisProcesses.Run(program, args, captureOutput);

    private static string Port(int port) => port.ToString(CultureInfo.InvariantCulture);

    /// <summary>A free port whose cluster-bus port (+10000) is free too and still a valid port.</summary>
    private static int FreePortWithFreeBus()
    {
        for (var attempt = 0; attempt < 1000; attempt++)
        {
            using var listener = new TcpListener(IPAddress.Loopback, 0);
            listener.Start();
            var port = ((IPEndPoint)listener.LocalEndpoint).Port;
            if (port + BusOffset > IPEndPoint.MaxPort)
            {
                continue;
            }

            try
            {
                using var bus = new TcpListener(IPAddress.Loopback, port + BusOffset);
                bus.Start();
                return port;
            }
            catch (SocketException)
            {
            }
        }

        throw new InvalidOperationException("No free port pair (port, port + 10000) for a cluster node.");
    }
}
