using System.Text.Json.Nodes;
using Microsoft.Extensions.DependencyInjection;

namespace Gateway.Tests.Common;

/// <summary>Base of the fixtures whose tests share one gateway in front of one WireMock upstream.</summary>
public abstract class GatewayFixture(StoreKind store = StoreKind.Sqlite) : GatewayFixture<Upstream>(store)
{
    protected override Task<Upstream> StartUpstreamAsync() => Task.FromResult(Upstream.Start());

    protected override string UrlOf(Upstream upstream) => upstream.Url;

    protected override ValueTask StopUpstreamAsync(Upstream upstream)
    {
        upstream.Dispose();
        return ValueTask.CompletedTask;
    }
}

/// <summary>
/// Base of the fixtures whose tests share one gateway in front of a <see cref="RecordingUpstream"/>, which keeps each
/// request's raw target and header lines as they arrived (what signature and request-target tests read).
/// </summary>
public abstract class RecordingGatewayFixture(StoreKind store = StoreKind.Sqlite) : GatewayFixture<RecordingUpstream>(store)
{
    protected override Task<RecordingUpstream> StartUpstreamAsync() => RecordingUpstream.StartAsync();

    protected override string UrlOf(RecordingUpstream upstream) => upstream.Url;

    protected override ValueTask StopUpstreamAsync(RecordingUpstream upstream) => upstream.DisposeAsync();
}

/// <summary>
/// Base of the fixtures whose tests share one gateway in front of one upstream of type <typeparamref name="TUpstream"/>.
/// Both are started before the fixture's own one-time set-up (NUnit runs a base class's first) and stopped
/// after its tear-down, so a fixture only states what differs: its settings, services and store.
/// </summary>
public abstract class GatewayFixture<TUpstream>(StoreKind store)
    where TUpstream : class
{
    private int _orgs;

    /// <summary>The upstream every default route points at.</summary>
    protected TUpstream Upstream { get; private set; } = null!;

    /// <summary>The gateway shared by the fixture's tests.</summary>
    protected GatewayHost Host { get; private set; } = null!;

    protected StoreKind Store => store;

    /// <summary>The fixture's Redis key prefix (on Redis): another instance started with it shares the store.</summary>
    protected string RedisPrefix { get; } = $"t{Guid.NewGuid():N}:";

    /// <summary>The gateway's directory (its SQLite store), kept across <see cref="RestartAsync"/>.</summary>
    protected string StoreDirectory { get; } = Path.Combine(Path.GetTempPath(), "gw-tests", Guid.NewGuid().ToString("N"));

    /// <summary>Organisation ids made by <see cref="NewOrgAsync"/> start with this, so fixtures sharing a store do not collide.</summary>
    protected virtual string OrgPrefix => "o";

    [OneTimeSetUp]
    public async Task StartGatewayAsync()
    {
        Upstream = await StartUpstreamAsync();
        Host = await StartHostAsync();
    }

    /// <summary>
    /// Stops the gateway and starts a new one on the same store (directory, Redis prefix) and settings, as a
    /// process restart would: no pooled SQLite connection survives it.
    /// </summary>
    protected async Task RestartAsync()
    {
        await Host.StopForRestartAsync();
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        Host = await StartHostAsync();
    }

    /// <summary>Another gateway with the fixture's settings on the same store, as a second instance behind a load balancer.</summary>
    protected Task<GatewayHost> StartAnotherInstanceAsync() =>
        GatewayHost.StartAsync(Settings(UrlOf(Upstream)), ConfigureServices, store: store, redisPrefix: RedisPrefix);

    private Task<GatewayHost> StartHostAsync() =>
        GatewayHost.StartAsync(Settings(UrlOf(Upstream)), ConfigureServices, StoreDirectory, store, RedisPrefix);

    [OneTimeTearDown]
    public async Task StopGatewayAsync()
    {
        if (Host is not null)
        {
            await Host.DisposeAsync();
        }

        if (Upstream is not null)
        {
            await StopUpstreamAsync(Upstream);
        }
    }

    protected abstract Task<TUpstream> StartUpstreamAsync();

    protected abstract string UrlOf(TUpstream upstream);

    protected abstract ValueTask StopUpstreamAsync(TUpstream upstream);

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
