using Gateway.Configuration;
using Gateway.Domain;
using Gateway.Keys;
using Gateway.Observability;
using Gateway.Stores;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;

namespace Gateway.Tests.Keys;

/// <summary>
/// Every refusal of the key lifecycle, table-driven, on the real embedded store wired as AddGateway wires
/// it: the kind of refusal, the field it names, and that nothing stored changed.
/// </summary>
public sealed class KeyManagerTests
{
    private static readonly KeyDraft Draft = new("svc", KeyEnvironments.Production, ["read"], null, null, "test", null, null);

    private ServiceProvider _services = null!;
    private KeyManager _keys = null!;
    private IGatewayStore _store = null!;
    private FakeTimeProvider _time = null!;
    private string _directory = null!;

    [SetUp]
    public async Task SetUpAsync()
    {
        _directory = Path.Combine(Path.GetTempPath(), "gw-tests", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(_directory);
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Gateway:Store:Path"] = Path.Combine(_directory, "gateway.db"),
            ["Gateway:Scopes:0"] = "read",
        }).Build();
        _time = new FakeTimeProvider(new DateTimeOffset(2030, 1, 1, 0, 0, 0, TimeSpan.Zero).AddTicks(1234));

        var services = new ServiceCollection();
        services.AddLogging();
        services.AddMetrics();
        services.AddSingleton<TimeProvider>(_time);
        services.AddSingleton<GatewayMetrics>();
        services.AddGatewayOptions(configuration);
        services.AddGatewayStores(redis: null);
        services.AddGatewayKeys();
        _services = services.BuildServiceProvider();
        _store = _services.GetRequiredService<IGatewayStore>();
        await _store.InitializeAsync(CancellationToken.None);
        _keys = _services.GetRequiredService<KeyManager>();
        await _keys.CreateOrganizationAsync("acme", "Acme", "test", CancellationToken.None);
    }

    [TearDown]
    public async Task TearDownAsync()
    {
        await _services.DisposeAsync();
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        Directory.Delete(_directory, recursive: true);
    }

    private static readonly Dictionary<string, Func<KeyManager, Ids, Task>> Operations = new()
    {
        ["create in unknown org"] = (k, _) => k.CreateKeyAsync("nope", Draft, "t", CancellationToken.None),
        ["create expiring now"] = (k, _) => k.CreateKeyAsync("acme", Draft with { ExpiresAt = Start }, "t", CancellationToken.None),
        ["patch expiry into the past"] = (k, i) => k.UpdateAsync(i.Key, new KeyPatch { HasExpiresAt = true, ExpiresAt = Start.AddSeconds(-1) }, "t", CancellationToken.None),
        ["patch unknown key"] = (k, _) => k.UpdateAsync("key_nope", new KeyPatch { Name = "x" }, "t", CancellationToken.None),
        ["rename default key"] = (k, i) => k.UpdateAsync(i.Default, new KeyPatch { Name = "other" }, "t", CancellationToken.None),
        ["patch revoked key"] = (k, i) => k.UpdateAsync(i.Revoked, new KeyPatch { Name = "x" }, "t", CancellationToken.None),
        ["rotate with negative grace"] = (k, i) => k.RotateAsync(i.Key, TimeSpan.FromSeconds(-1), "t", CancellationToken.None),
        ["rotate with grace over 7 days"] = (k, i) => k.RotateAsync(i.Key, TimeSpan.FromDays(7).Add(TimeSpan.FromMilliseconds(1)), "t", CancellationToken.None),
        ["rotate revoked key"] = (k, i) => k.RotateAsync(i.Revoked, TimeSpan.Zero, "t", CancellationToken.None),
        ["revoke default key"] = (k, i) => k.RevokeAsync(i.Default, "t", CancellationToken.None),
        ["deactivate default key"] = (k, i) => k.DeactivateAsync(i.Default, "t", CancellationToken.None),
        ["activate revoked key"] = (k, i) => k.ActivateAsync(i.Revoked, "t", CancellationToken.None),
    };

    private static DateTimeOffset Start => new(2030, 1, 1, 0, 0, 0, TimeSpan.Zero);

    [TestCase("create in unknown org", "NotFound", null)]
    [TestCase("create expiring now", "Invalid", "expiresAt")]
    [TestCase("patch expiry into the past", "Invalid", "expiresAt")]
    [TestCase("patch unknown key", "NotFound", null)]
    [TestCase("rename default key", "Conflict", "name")]
    [TestCase("patch revoked key", "Conflict", null)]
    [TestCase("rotate with negative grace", "Invalid", "gracePeriod")]
    [TestCase("rotate with grace over 7 days", "Invalid", "gracePeriod")]
    [TestCase("rotate revoked key", "Conflict", null)]
    [TestCase("revoke default key", "Conflict", null)]
    [TestCase("deactivate default key", "Conflict", null)]
    [TestCase("activate revoked key", "Conflict", null)]
    public async Task Operation_Refused_ErrorFieldAndNothingStored(string operation, string error, string? field)
    {
        var ids = await SeedAsync();
        var before = await SnapshotAsync();

        var thrown = Assert.ThrowsAsync<KeyOperationException>(() => Operations[operation](_keys, ids));

        Assert.That(thrown!.Error.ToString(), Is.EqualTo(error), thrown.Message);
        Assert.That(thrown.Field, Is.EqualTo(field));
        Assert.That(await SnapshotAsync(), Is.EqualTo(before), "stored keys unchanged");
    }

    [Test]
    public async Task CreateKey_TakenName_StoreConflictOnName()
    {
        await _keys.CreateKeyAsync("acme", Draft, "t", CancellationToken.None);

        var thrown = Assert.ThrowsAsync<StoreConflictException>(() => _keys.CreateKeyAsync("acme", Draft, "t", CancellationToken.None));

        Assert.That(thrown!.Field, Is.EqualTo("name"));
    }

    [Test]
    public async Task Rotate_WithGrace_PreviousHashUntilGraceEndAtStoredPrecision()
    {
        var ids = await SeedAsync();
        var old = await _store.GetKeyAsync(ids.Key, CancellationToken.None);

        var rotated = await _keys.RotateAsync(ids.Key, TimeSpan.FromMinutes(10), "t", CancellationToken.None);

        var stored = await _store.GetKeyAsync(ids.Key, CancellationToken.None);
        Assert.That(stored!.PreviousHash, Is.EqualTo(old!.Hash));
        Assert.That(stored.Hash, Is.EqualTo(ApiKeyFormat.Hash(rotated.Plaintext)));
        Assert.That(stored.PreviousHashExpiresAt, Is.EqualTo(KeyRules.ToStoredPrecision(_time.GetUtcNow()) + TimeSpan.FromMinutes(10)));
        Assert.That(rotated.Record.PreviousHashExpiresAt, Is.EqualTo(stored.PreviousHashExpiresAt), "returned as stored");
    }

    private async Task<Ids> SeedAsync()
    {
        var organization = await _store.GetOrganizationAsync("acme", CancellationToken.None);
        var key = await _keys.CreateKeyAsync("acme", Draft with { Name = "live" }, "t", CancellationToken.None);
        var revoked = await _keys.CreateKeyAsync("acme", Draft with { Name = "gone" }, "t", CancellationToken.None);
        await _keys.RevokeAsync(revoked.Record.Id, "t", CancellationToken.None);
        return new Ids(organization!.DefaultKeyId, key.Record.Id, revoked.Record.Id);
    }

    private async Task<string> SnapshotAsync()
    {
        var keys = await _store.ListKeysAsync("acme", CancellationToken.None);
        return string.Join("\n", keys.OrderBy(k => k.Id, StringComparer.Ordinal).Select(k => $"{k.Id} {k.Name} {k.State} {k.Hash} {k.PreviousHash} {k.ExpiresAt:O} {k.Version}"));
    }

    internal sealed record Ids(string Default, string Key, string Revoked);
}
