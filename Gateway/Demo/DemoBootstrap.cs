using Gateway.Admin;
using Gateway.Configuration;
using Gateway.Domain;
using Gateway.Http;
using Gateway.Keys;
using Gateway.Stores;
using Microsoft.Extensions.Options;

namespace Gateway.Demo;

/// <summary>
/// On the first start with the demo enabled and an empty store, creates the <c>demo</c> organization and
/// prints its default key once, with a ready curl line; the key is also saved next to the store as
/// <c>demo-key</c> (mode 0600). It goes to the console and that file only, never to a logger. The key is a
/// development key holding the demo's scopes, and the demo organization's keys open only the demo's routes
/// (the key authentication stage refuses them anywhere else), so it is worth nothing once the demo is off.
/// </summary>
internal sealed class DemoBootstrap(
    IGatewayStore store,
    KeyManager keys,
    IOptions<GatewayOptions> options,
    Listeners listeners,
    IHostApplicationLifetime lifetime) : IHostedService
{
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        var gateway = options.Value;
        try
        {
            if (!gateway.Demo.Enabled || (await store.ListOrganizationsAsync(cancellationToken)).Count > 0)
            {
                return;
            }

            var (_, key) = await keys.CreateOrganizationAsync(
                RoutePolicy.DemoOrganizationId, "Demo organization", "gateway-demo", KeyEnvironments.Development, DemoServiceCollectionExtensions.Scopes, cancellationToken);
            var saved = Save(key.Plaintext, gateway);
            lifetime.ApplicationStarted.Register(() => Print(key.Plaintext, saved, gateway));
        }
        catch (StoreConflictException)
        {
            // Another instance sharing the store created it first; its key was printed there.
        }
        catch (StoreUnavailableException)
        {
            // A shared store that is down at start must not stop the gateway; the demo org can wait.
        }
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public static string FilePath(GatewayOptions options) =>
        Path.Combine(Path.GetDirectoryName(Path.GetFullPath(options.Store.Path)) ?? ".", "demo-key");

    /// <summary>Saves the key for a later look (the console scrolls away); null when the file cannot be written.</summary>
    private static string? Save(string plaintext, GatewayOptions gateway)
    {
        var path = FilePath(gateway);
        try
        {
            Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            var streamOptions = new FileStreamOptions { Mode = FileMode.Create, Access = FileAccess.Write };
            if (!OperatingSystem.IsWindows())
            {
                streamOptions.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
            }

            using (var stream = new FileStream(path, streamOptions))
            using (var writer = new StreamWriter(stream))
            {
                writer.Write(plaintext);
            }

            if (!OperatingSystem.IsWindows())
            {
                // An older file keeps its mode on FileMode.Create: tighten it too.
                File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite);
            }

            return path;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    private void Print(string plaintext, string? saved, GatewayOptions gateway)
    {
        var proxy = $"http://127.0.0.1:{listeners.ProxyPort ?? 8080}";
        var admin = $"http://127.0.0.1:{listeners.AdminPort ?? 8081}";
        var tokenHint = string.IsNullOrEmpty(gateway.Admin.Token) ? $"$(cat {AdminToken.FilePath(gateway)})" : "<Gateway:Admin:Token>";
        Console.WriteLine($"""

            ==> Created organization 'demo'. Its default key (development, scopes read write admin; it opens only /demo/ routes):

                {plaintext}

            {(saved is null ? "    (It could not be saved to a file: copy it now.)" : $"    Also saved in {saved} (mode 0600).")}

            Call the demo upstream through the gateway (it echoes the headers it received):

                curl -s {proxy}/demo/hello -H "Authorization: Bearer {plaintext}"

            Manage keys with the admin API:

                curl -s {admin}/admin/orgs -H "Authorization: Bearer {tokenHint}"

            """);
    }
}
