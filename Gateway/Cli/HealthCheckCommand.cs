using System.CommandLine;
using Gateway.Http;

namespace Gateway.Cli;

/// <summary>
/// <c>Gateway healthcheck [--url]</c>: exit 0 when the local gateway's <c>/healthz</c> answers 2xx, else 1.
/// The container's HEALTHCHECK runs it because the runtime image has no curl or wget.
/// </summary>
internal static class HealthCheckCommand
{
    public static Command Create(TextWriter output, TextWriter error)
    {
        var url = new Option<string?>("--url")
        {
            Description = "URL to GET (default: /healthz on the configured Kestrel:Endpoints:Admin:Url, wildcard hosts as loopback).",
        };
        var timeout = new Option<TimeSpan>("--timeout")
        {
            Description = "Give up after this long, e.g. 00:00:03.",
            DefaultValueFactory = _ => TimeSpan.FromSeconds(3),
        };
        var command = new Command("healthcheck", "Exit 0 if the local gateway answers its health endpoint, 1 if not.") { url, timeout };
        command.SetAction(async (result, cancellationToken) =>
        {
            Uri target;
            try
            {
                target = result.GetValue(url) is { } given
                    ? new Uri(given, UriKind.Absolute)
                    : CliConfiguration.LocalUrl(CliConfiguration.Load()[$"Kestrel:Endpoints:{Listeners.AdminName}:Url"]!, "/healthz");
            }
            catch (UriFormatException ex)
            {
                await error.WriteLineAsync($"unhealthy: not a URL ({ex.Message})");
                return 1;
            }

            return await ProbeAsync(target, result.GetValue(timeout), output, error, cancellationToken);
        });
        return command;
    }

    private static async Task<int> ProbeAsync(Uri target, TimeSpan timeout, TextWriter output, TextWriter error, CancellationToken cancellationToken)
    {
        using var handler = new SocketsHttpHandler { UseProxy = false, AllowAutoRedirect = false };
        using var http = new HttpClient(handler) { Timeout = timeout };
        try
        {
            using var response = await http.GetAsync(target, cancellationToken);
            if (response.IsSuccessStatusCode)
            {
                await output.WriteLineAsync($"healthy: {target} answered {(int)response.StatusCode}");
                return 0;
            }

            await error.WriteLineAsync($"unhealthy: {target} answered {(int)response.StatusCode}");
            return 1;
        }
        catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException)
        {
            await error.WriteLineAsync($"unhealthy: {target} did not answer ({ex.Message})");
            return 1;
        }
    }
}
