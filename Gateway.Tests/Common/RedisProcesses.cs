using System.Diagnostics;
using System.Net.Sockets;

namespace Gateway.Tests.Common;

/// <summary>Starting redis-server, redis-sentinel and redis-cli processes and waiting for them, for the Redis fixtures.</summary>
internal static class RedisProcesses
{
    /// <summary>Polls <paramref name="condition"/> until it holds; connection errors and error replies count as "not yet".</summary>
    public static void WaitUntil(Func<bool> condition, string what, TimeSpan within)
    {
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < within)
        {
            try
            {
                if (condition())
                {
                    return;
                }
            }
            catch (Exception ex) when (ex is SocketException or IOException or InvalidOperationException)
            {
                // Not up yet, or answering LOADING / CLUSTERDOWN while it settles.
            }

            Thread.Sleep(50);
        }

        throw new InvalidOperationException($"Timed out waiting for {what}.");
    }

    /// <summary>Starts <paramref name="program"/>; its output is drained unless the caller reads it.</summary>
    public static Process Run(string program, IEnumerable<string> args, bool captureOutput = false)
    {
        var start = new ProcessStartInfo(program)
        {
            UseShellExecute = false,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }

        Process process;
        try
        {
            process = Process.Start(start) ?? throw new InvalidOperationException($"Could not start {program}.");
        }
        catch (System.ComponentModel.Win32Exception ex)
        {
            throw new InvalidOperationException($"Could not start {program}; install the Debian packages redis-server and redis-sentinel (they bring redis-cli).", ex);
        }

        if (!captureOutput)
        {
            process.OutputDataReceived += (_, _) => { };
            process.ErrorDataReceived += (_, _) => { };
            process.BeginOutputReadLine();
            process.BeginErrorReadLine();
        }

        return process;
    }

    /// <summary>Kills <paramref name="process"/> if it still runs, waits for it, and disposes it.</summary>
    public static void Stop(Process process)
    {
        try
        {
            if (!process.HasExited)
            {
                process.Kill();
                process.WaitForExit();
            }
        }
        catch (InvalidOperationException)
        {
            // Never started or already reaped.
        }

        process.Dispose();
    }
}
