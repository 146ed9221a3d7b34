namespace Gateway.Hosting;

/// <summary>Runs a built gateway until it stops and says which exit code the process ends with.</summary>
internal static class GatewayRun
{
    /// <summary>
    /// 0 after a stop asked for (SIGTERM, Ctrl+C); 1 when the host stopped because a background service failed. The host
    /// stops itself then (<c>BackgroundServiceExceptionBehavior.StopHost</c>) and returns as after any stop, so the
    /// process exited 0 and a supervisor (systemd's <c>Restart=on-failure</c>, a Kubernetes Job, an alert on exit
    /// codes) took a crash for a clean stop.
    /// </summary>
    public static async Task<int> RunAsync(WebApplication app, TextWriter error)
    {
        List<(string Service, Exception Error)> failures = [];
        app.Lifetime.ApplicationStopping.Register(() => failures = Failed(app.Services));
        try
        {
            await app.RunAsync();
        }
        catch (OperationCanceledException) when (failures.Count > 0)
        {
            // A service failed while the host was still starting, which cancelled the rest of the start.
        }

        foreach (var (service, exception) in failures)
        {
            await error.WriteLineAsync($"Gateway stopped: {service} failed: {exception.GetBaseException().Message}");
        }

        return failures.Count == 0 ? 0 : 1;
    }

    /// <summary>
    /// The background services that had failed when the host began to stop: read then, because the host stops itself only
    /// after the failure, while one that fails during an ordinary shutdown did not cause it.
    /// </summary>
    private static List<(string, Exception)> Failed(IServiceProvider services)
    {
        IEnumerable<IHostedService> hosted;
        try
        {
            hosted = services.GetServices<IHostedService>();
        }
        catch (ObjectDisposedException)
        {
            return [];
        }

        return hosted.OfType<BackgroundService>()
            .Where(s => s.ExecuteTask is { IsFaulted: true })
            .Select(s => (s.GetType().Name, (Exception)s.ExecuteTask!.Exception!))
            .ToList();
    }
}
