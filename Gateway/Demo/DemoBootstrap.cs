using Gateway.Admin;
using Gateway.Configuration;
using Gateway.Keys;
using Gateway.Stores;
using Microsoft.Extensions.Options;

namespace Gateway.Demo;

/// <summary>
/// On the first start with the demo enabled and an empty store, creates the <c>demo</c> organization and
/// prints its default key once, with a ready curl line. The key goes to the console only, never to a logger.
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

            var (_, key) = await keys.CreateOrganizationAsync("demo", "Demo organization", "gateway-demo", cancellationToken);
            lifetime.ApplicationStarted.Register(() => Print(key.Plaintext, gateway));
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

    private void Print(string plaintext, GatewayOptions gateway)
    {
        var proxy = $"http://127.0.0.1:{listeners.ProxyPort ?? 8080}";
        var admin = $"http://127.0.0.1:{listeners.AdminPort ?? 8081}";
        var tokenHint = string.IsNullOrEmpty(gateway.Admin.Token) ? $"$(cat {AdminToken.FilePath(gateway)})" : "<Gateway:Admin:Token>";
        Console.WriteLine($"""

            ==> Created organization 'demo'. Its default key, shown this once:

                {plaintext}

            Call the demo upstream through the gateway (it echoes the headers it received):

                curl -s {proxy}/demo/hello -H "Authorization: Bearer {plaintext}"

            Manage keys with the admin API:

                curl -s {admin}/admin/orgs -H "Authorization: Bearer {tokenHint}"

            """);
    }
}
