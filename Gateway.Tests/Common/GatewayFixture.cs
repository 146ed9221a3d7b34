using System.Text.Json.Nodes;
using Microsoft.Extensions.DependencyInjection;

namespace Gateway.Tests.Common;

/// <summary>
/// Base of the fixtures whose tests share one gateway in front of one WireMock upstream. Both are
/// started before the fixture's own one-time set-up (NUnit runs a base class's first) and stopped
/// after its tear-down, so a fixture only states what differs: its settings, services and store.
/// </summary>
public abstract class GatewayFixture(StoreKind store = StoreKind.Sqlite)
{
    private int _orgs;

    /// <summary>The upstream every default route points at.</summary>
    protected Upstream Upstream { get; private set; } = null!;

    /// <summary>The gateway shared by the fixture's tests.</summary>
    protected GatewayHost Host { get; private set; } = null!;

    protected StoreKind Store => store;

    /// <summary>Organisation ids made by <see cref="NewOrgAsync"/> start with this, so fixtures sharing a store do not collide.</summary>
    protected virtual string OrgPrefix => "o";

    [OneTimeSetUp]
    public async Task StartGatewayAsync()
    {
        Upstream = Upstream.Start();
        Host = await GatewayHost.StartAsync(Settings(Upstream.Url), ConfigureServices, store: store);
    }

    [OneTimeTearDown]
    public async Task StopGatewayAsync()
    {
        if (Host is not null)
        {
            await Host.DisposeAsync();
        }

        Upstream?.Dispose();
    }

    /// <summary>The id of the key in a create-key (or create-organisation default key) answer.</summary>
    protected static string Id(JsonObject key) => key.Str("id");

    /// <summary>The plaintext of the key in a create-key or rotate answer.</summary>
    protected static string Plaintext(JsonObject key) => key.Str("key");

    /// <summary>The gateway's configuration; by default one route, <c>api</c>, for <c>/api/{**rest}</c> to the upstream.</summary>
    protected virtual Dictionary<string, string?> Settings(string upstream) =>
        GatewayHost.Routes(upstream, ("api", "/api/{**rest}", []));

    /// <summary>Service overrides applied before the gateway's own (e.g. an exporter or a fake clock).</summary>
    protected virtual void ConfigureServices(IServiceCollection services)
    {
    }

    /// <summary>A fresh organisation, so tests sharing the gateway do not see each other's keys; returns its id.</summary>
    protected async Task<string> NewOrgAsync()
    {
        var id = NextOrgId();
        await Host.CreateOrgAsync(id);
        return id;
    }

    /// <summary>A fresh organisation; returns the create answer, which holds its default key.</summary>
    protected Task<JsonObject> NewOrgWithDefaultKeyAsync() => Host.CreateOrgAsync(NextOrgId());

    private string NextOrgId() => (OrgPrefix + Interlocked.Increment(ref _orgs)).ToLowerInvariant();
}
