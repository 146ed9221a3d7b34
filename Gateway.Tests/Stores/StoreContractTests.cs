using Gateway.Configuration;
using Gateway.Domain;
using Gateway.Stores;
using Gateway.Stores.Redis;
using Gateway.Stores.Sqlite;
using Gateway.Tests.Common;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace Gateway.Tests.Stores;

/// <summary>
/// What every <see cref="IGatewayStore"/> promises, run against the embedded SQLite store and a real
/// redis-server: the same answers, the same refusals (conflicts, stale versions, bad cursors) and
/// exactly one winner when two writers race on one version.
/// </summary>
[TestFixtureSource(typeof(StoreKinds), nameof(StoreKinds.All))]
public sealed class StoreContractTests(StoreKind kind)
{
    private static readonly DateTimeOffset T0 = new(2030, 1, 1, 0, 0, 0, TimeSpan.Zero);

    private IGatewayStore _store = null!;
    private ConnectionMultiplexer? _redis;
    private string _directory = null!;
    private int _sequence;

    [SetUp]
    public async Task SetUpAsync()
    {
        _directory = Path.Combine(Path.GetTempPath(), "gw-tests", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(_directory);
        var options = Options.Create(new GatewayOptions
        {
            Store = { Path = Path.Combine(_directory, "gateway.db"), RedisPrefix = $"t{Guid.NewGuid():N}:" },
        });
        if (kind == StoreKind.Redis)
        {
            _redis = await ConnectionMultiplexer.ConnectAsync(RedisServer.Shared.ConnectionString);
            _store = new RedisGatewayStore(_redis, options);
        }
        else
        {
            _store = new SqliteGatewayStore(options);
        }

        await _store.InitializeAsync(CancellationToken.None);
        await _store.CreateOrganizationAsync(new Organization("acme", "Acme", T0, "key_default"), Key("key_default", "default"), Audit("acme", "key_default"), CancellationToken.None);
    }

    [TearDown]
    public async Task TearDownAsync()
    {
        if (_redis is not null)
        {
            await _redis.DisposeAsync();
        }

        (_store as IDisposable)?.Dispose();
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        Directory.Delete(_directory, recursive: true);
    }

    [Test]
    public async Task CreateOrganization_ThenRead_SameOrganizationAndDefaultKey()
    {
        var organization = await _store.GetOrganizationAsync("acme", CancellationToken.None);
        var all = await _store.ListOrganizationsAsync(CancellationToken.None);
        var key = await _store.GetKeyAsync("key_default", CancellationToken.None);

        Assert.That(organization, Is.EqualTo(new Organization("acme", "Acme", T0, "key_default")));
        Assert.That(all.Select(o => o.Id), Is.EqualTo(new[] { "acme" }));
        Assert.That(key!.Name, Is.EqualTo("default"));
        Assert.That(await _store.GetOrganizationAsync("nope", CancellationToken.None), Is.Null);
    }

    [Test]
    public void CreateOrganization_TakenId_ConflictOnId()
    {
        var thrown = Assert.ThrowsAsync<StoreConflictException>(() =>
            _store.CreateOrganizationAsync(new Organization("acme", "Again", T0, "key_other"), Key("key_other", "default"), Audit("acme", "key_other"), CancellationToken.None));

        Assert.That(thrown!.Field, Is.EqualTo("id"));
        Assert.That(thrown.Message, Is.EqualTo(StoreConflictException.OrganizationId().Message));
    }

    [Test]
    public async Task CreateKey_TakenName_ConflictOnNameAndNothingStored()
    {
        await _store.CreateKeyAsync(Key("key_a", "svc"), Audit("acme", "key_a"), CancellationToken.None);

        var thrown = Assert.ThrowsAsync<StoreConflictException>(() => _store.CreateKeyAsync(Key("key_b", "svc"), Audit("acme", "key_b"), CancellationToken.None));

        Assert.That(thrown!.Field, Is.EqualTo("name"));
        Assert.That(thrown.Message, Is.EqualTo(StoreConflictException.KeyName().Message));
        Assert.That(await _store.GetKeyAsync("key_b", CancellationToken.None), Is.Null);
        Assert.That(await _store.FindKeyByHashAsync("hash-key_b", CancellationToken.None), Is.Null);
    }

    [Test]
    public async Task CreateKey_NameOfARevokedKey_Allowed()
    {
        var first = Key("key_a", "svc");
        await _store.CreateKeyAsync(first, Audit("acme", "key_a"), CancellationToken.None);
        await _store.UpdateKeyAsync(first with { State = KeyState.Revoked, Version = 2 }, 1, Audit("acme", "key_a"), CancellationToken.None);

        await _store.CreateKeyAsync(Key("key_b", "svc"), Audit("acme", "key_b"), CancellationToken.None);

        Assert.That((await _store.ListKeysAsync("acme", CancellationToken.None)).Select(k => k.Id).Order(StringComparer.Ordinal), Is.EqualTo(new[] { "key_a", "key_b", "key_default" }));
    }

    [Test]
    public async Task FindKeyByHash_CurrentAndPreviousHash_SameKey()
    {
        var key = Key("key_a", "svc");
        await _store.CreateKeyAsync(key, Audit("acme", "key_a"), CancellationToken.None);
        await _store.UpdateKeyAsync(key with { Hash = "hash-new", PreviousHash = key.Hash, PreviousHashExpiresAt = T0.AddMinutes(10), Version = 2 }, 1, Audit("acme", "key_a"), CancellationToken.None);

        Assert.That((await _store.FindKeyByHashAsync("hash-new", CancellationToken.None))?.Id, Is.EqualTo("key_a"));
        Assert.That((await _store.FindKeyByHashAsync(key.Hash, CancellationToken.None))?.Id, Is.EqualTo("key_a"));
        Assert.That(await _store.FindKeyByHashAsync("hash-unknown", CancellationToken.None), Is.Null);
    }

    [Test]
    public async Task FindKeyByHash_ManyAtOnceThenAfterAChange_EachFindsItsKeyAsItIsNow()
    {
        // More lookups at once than the embedded store keeps readers for, and reads after a write on readers prepared before it.
        var keys = Enumerable.Range(0, 12).Select(i => Key($"key_{i}", $"svc{i}")).ToList();
        foreach (var key in keys)
        {
            await _store.CreateKeyAsync(key, Audit("acme", key.Id), CancellationToken.None);
        }

        var found = await Task.WhenAll(Enumerable.Range(0, 240).Select(i => Task.Run(() => _store.FindKeyByHashAsync(keys[i % keys.Count].Hash, CancellationToken.None))));
        Assert.That(found.Select(k => k?.Id), Is.EqualTo(Enumerable.Range(0, 240).Select(i => keys[i % keys.Count].Id)));

        await _store.UpdateKeyAsync(keys[3] with { State = KeyState.Revoked, Version = 2 }, 1, Audit("acme", "key_3"), CancellationToken.None);
        var again = await Task.WhenAll(Enumerable.Range(0, 24).Select(_ => Task.Run(() => _store.FindKeyByHashAsync(keys[3].Hash, CancellationToken.None))));
        Assert.That(again.Select(k => k?.State), Is.All.EqualTo(KeyState.Revoked));

        if (kind == StoreKind.Sqlite)
        {
            // The embedded store's readers stay open between lookups: none may keep a read snapshot, or the WAL
            // could never be checkpointed back into the file and would grow without end.
            using var other = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={Path.Combine(_directory, "gateway.db")};Pooling=False");
            other.Open();
            using var checkpoint = other.CreateCommand();
            checkpoint.CommandText = "PRAGMA wal_checkpoint(TRUNCATE);";
            using var result = checkpoint.ExecuteReader();
            Assert.That(result.Read(), Is.True);
            Assert.That((result.GetInt64(0), result.GetInt64(1)), Is.EqualTo((0L, 0L)), "(busy, WAL frames left) after a full checkpoint");
        }
    }

    [Test]
    public async Task UpdateKey_StaleVersion_ConcurrencyAndStoredUnchanged()
    {
        var key = Key("key_a", "svc");
        await _store.CreateKeyAsync(key, Audit("acme", "key_a"), CancellationToken.None);
        await _store.UpdateKeyAsync(key with { Name = "first", Version = 2 }, 1, Audit("acme", "key_a"), CancellationToken.None);

        Assert.ThrowsAsync<StoreConcurrencyException>(() => _store.UpdateKeyAsync(key with { Name = "second", Version = 2 }, 1, Audit("acme", "key_a"), CancellationToken.None));

        var stored = await _store.GetKeyAsync("key_a", CancellationToken.None);
        Assert.That((stored!.Name, stored.Version), Is.EqualTo(("first", 2L)));
    }

    [Test]
    public void UpdateKey_UnknownKey_Concurrency()
    {
        Assert.ThrowsAsync<StoreConcurrencyException>(() => _store.UpdateKeyAsync(Key("key_nope", "x") with { Version = 2 }, 1, Audit("acme", "key_nope"), CancellationToken.None));
    }

    [Test]
    public async Task UpdateKey_WritersRaceOnOneVersion_ExactlyOneWins()
    {
        var key = Key("key_a", "svc");
        await _store.CreateKeyAsync(key, Audit("acme", "key_a"), CancellationToken.None);

        var writers = Enumerable.Range(0, 8).Select(i => Task.Run(async () =>
        {
            try
            {
                await _store.UpdateKeyAsync(key with { Name = $"w{i}", Version = 2 }, 1, Audit("acme", "key_a"), CancellationToken.None);
                return $"w{i}";
            }
            catch (StoreConcurrencyException)
            {
                return null;
            }
        })).ToArray();
        var winners = (await Task.WhenAll(writers)).OfType<string>().ToList();

        Assert.That(winners, Has.Count.EqualTo(1));
        Assert.That((await _store.GetKeyAsync("key_a", CancellationToken.None))!.Name, Is.EqualTo(winners[0]));
    }

    [Test]
    public async Task UpdateKey_RenameOntoLiveName_ConflictOnName()
    {
        await _store.CreateKeyAsync(Key("key_a", "svc"), Audit("acme", "key_a"), CancellationToken.None);
        var other = Key("key_b", "other");
        await _store.CreateKeyAsync(other, Audit("acme", "key_b"), CancellationToken.None);

        var thrown = Assert.ThrowsAsync<StoreConflictException>(() => _store.UpdateKeyAsync(other with { Name = "svc", Version = 2 }, 1, Audit("acme", "key_b"), CancellationToken.None));

        Assert.That(thrown!.Field, Is.EqualTo("name"));
        Assert.That((await _store.GetKeyAsync("key_b", CancellationToken.None))!.Name, Is.EqualTo("other"));
    }

    [Test]
    public async Task ListAudit_Pages_NewestFirstAndEveryEntryOnce()
    {
        for (var i = 0; i < 5; i++)
        {
            await _store.CreateKeyAsync(Key($"key_{i}", $"k{i}"), Audit("acme", $"key_{i}"), CancellationToken.None);
        }

        var seen = new List<string?>();
        string? cursor = null;
        var pages = 0;
        do
        {
            var page = await _store.ListAuditAsync("acme", cursor, 2, CancellationToken.None);
            seen.AddRange(page.Items.Select(e => e.KeyId));
            cursor = page.NextCursor;
            pages++;
        }
        while (cursor is not null && pages < 10);

        Assert.That(seen, Is.EqualTo(new[] { "key_4", "key_3", "key_2", "key_1", "key_0", "key_default" }));
        Assert.That(pages, Is.EqualTo(3));
    }

    [TestCase("not-a-cursor")]
    [TestCase("-1")]
    [TestCase("")]
    public void ListAudit_BadCursor_CursorException(string cursor)
    {
        Assert.ThrowsAsync<StoreCursorException>(() => _store.ListAuditAsync("acme", cursor, 10, CancellationToken.None));
    }

    [Test]
    public async Task RecordKeyUsage_Later_RaisedEarlier_NotLowered()
    {
        await _store.RecordKeyUsageAsync([new("key_default", T0.AddMinutes(5))], CancellationToken.None);
        await _store.RecordKeyUsageAsync([new("key_default", T0.AddMinutes(1))], CancellationToken.None);

        Assert.That((await _store.GetKeyAsync("key_default", CancellationToken.None))!.LastUsedAt, Is.EqualTo(T0.AddMinutes(5)));
    }

    [Test]
    public async Task RecordKeyUsage_MoreKeysThanOneRedisCall_EveryStoredKeyRaised()
    {
        // Redis writes last-used times in calls of a thousand keys: the stored key sits past the first call.
        var usage = Enumerable.Range(0, 2500).Select(i => new KeyValuePair<string, DateTimeOffset>("key_absent_" + i, T0)).ToList();
        usage.Insert(1700, new("key_default", T0.AddMinutes(3)));

        await _store.RecordKeyUsageAsync(usage, CancellationToken.None);

        Assert.That((await _store.GetKeyAsync("key_default", CancellationToken.None))!.LastUsedAt, Is.EqualTo(T0.AddMinutes(3)));
        Assert.That(await _store.GetKeyAsync("key_absent_2499", CancellationToken.None), Is.Null);
    }

    [Test]
    public async Task RecordKeyUsage_KeyNotStored_NothingCreated()
    {
        await _store.RecordKeyUsageAsync([new("key_missing", T0), new("key_default", T0)], CancellationToken.None);

        Assert.That(await _store.GetKeyAsync("key_missing", CancellationToken.None), Is.Null);
        Assert.That((await _store.ListKeysAsync("acme", CancellationToken.None)).Select(k => (k.Id, k.LastUsedAt)), Is.EqualTo(new[] { ("key_default", (DateTimeOffset?)T0) }));
    }

    [Test]
    public async Task LastUsed_KeptWhenTheKeyIsUpdated_ShownByEveryRead()
    {
        await _store.RecordKeyUsageAsync([new("key_default", T0.AddMinutes(3))], CancellationToken.None);
        var key = (await _store.GetKeyAsync("key_default", CancellationToken.None))!;
        await _store.UpdateKeyAsync(key with { Name = "renamed", Version = key.Version + 1, UpdatedAt = T0.AddMinutes(4) }, key.Version, Audit("acme", "key_default"), CancellationToken.None);

        Assert.That((await _store.GetKeyAsync("key_default", CancellationToken.None))!.LastUsedAt, Is.EqualTo(T0.AddMinutes(3)));
        Assert.That((await _store.ListKeysAsync("acme", CancellationToken.None)).Single().LastUsedAt, Is.EqualTo(T0.AddMinutes(3)));
        Assert.That((await _store.FindKeyByHashAsync(key.Hash, CancellationToken.None))!.LastUsedAt, Is.EqualTo(T0.AddMinutes(3)));
    }

    private static ApiKeyRecord Key(string id, string name) => new()
    {
        Id = id,
        OrgId = "acme",
        Name = name,
        Prefix = "gw_live_abcdef",
        Hash = "hash-" + id,
        Environment = KeyEnvironments.Production,
        Scopes = ["read"],
        CreatedAt = T0,
        UpdatedAt = T0,
        Version = 1,
    };

    private AuditEntry Audit(string orgId, string keyId) =>
        new($"aud_{Interlocked.Increment(ref _sequence)}", orgId, keyId, "key.create", "test", T0, null);
}
