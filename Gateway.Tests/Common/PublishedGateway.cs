using System.Diagnostics;

namespace Gateway.Tests.Common;

/// <summary>
/// <c>dotnet publish</c> of the Gateway project into a temp directory, once per test run, from the build
/// the tests run against (the image runs the same publish from source).
/// </summary>
public static class PublishedGateway
{
    private static readonly Lazy<Task<string>> Output = new(PublishAsync);

    public static Task<string> DirectoryAsync() => Output.Value;

    /// <summary>Removes the publish output at the end of the run, if a test asked for it.</summary>
    public static void Delete()
    {
        if (Output.IsValueCreated && Output.Value.IsCompletedSuccessfully)
        {
            try
            {
                Directory.Delete(Output.Value.Result, recursive: true);
            }
            catch (IOException)
            {
            }
        }
    }

    private static async Task<string> PublishAsync()
    {
        var output = Path.Combine(Path.GetTempPath(), "gw-tests", "publish-" + Guid.NewGuid().ToString("N"));
        var configuration = AppContext.BaseDirectory.Contains($"{Path.DirectorySeparatorChar}Debug{Path.DirectorySeparatorChar}", StringComparison.Ordinal) ? "Debug" : "Release";
        var start = new ProcessStartInfo("dotnet")
        {
            UseShellExecute = false,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = RepositoryFiles.Root,
        };
        foreach (var argument in new[] { "publish", "Gateway/Gateway.csproj", "-c", configuration, "--no-build", "-o", output, "-nologo", "-v", "quiet" })
        {
            start.ArgumentList.Add(argument);
        }

        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(5));
        await process.WaitForExitAsync(timeout.Token);
        if (process.ExitCode != 0 || !File.Exists(Path.Combine(output, "Gateway.dll")))
        {
            throw new InvalidOperationException($"dotnet publish failed ({process.ExitCode}): {await stdout}{await stderr}");
        }

        return output;
    }
}
