using Gateway.Configuration;
using Gateway.Stores.Sqlite;
using Gateway.Tests.Common;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Options;

namespace Gateway.Tests.Stores;

/// <summary>
/// Last-used times on the embedded store live in a narrow table of their own (schema version 10), so recording them
/// for every key in use does not rewrite the wide rows of <c>keys</c>. A store from before keeps the times it had.
/// </summary>
public sealed class SqliteLastUsedTests
{
    private static readonly DateTimeOffset T0 = new(2030, 1, 1, 0, 0, 0, TimeSpan.Zero);

    private string _directory = null!;
    private string _path = null!;

    [SetUp]
    public void SetUp()
    {
        _directory = Path.Combine(Path.GetTempPath(), "gw-tests", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(_directory);
        _path = Path.Combine(_directory, "gateway.db");
    }

    [TearDown]
    public void TearDown()
    {
        SqliteConnection.ClearAllPools();
        Directory.Delete(_directory, recursive: true);
    }

    [Test]
    public async Task StoreFromVersion9_TimesKept_NewUsesGoToTheirOwnTable_KeysRowsUntouched()
    {
        using (var connection = Connect())
        {
            connection.Execute(string.Concat(SqliteSchema.Migrations.Take(9)) + $"""
                PRAGMA user_version = 9;
                INSERT INTO orgs (id, name, created_at, default_key_id) VALUES ('acme', 'Acme', 0, 'key_used');
                INSERT INTO keys (id, org_id, name, prefix, hash, environment, scopes, state, is_default, created_at, updated_at, last_used_at, version)
                VALUES ('key_used', 'acme', 'used', 'gw_live_aaaaaa', 'hash-used', 'production', '*', 'active', 1, 0, 0, {T0.ToUnixTimeMilliseconds()}, 1),
                       ('key_idle', 'acme', 'idle', 'gw_live_bbbbbb', 'hash-idle', 'production', '*', 'active', 0, 0, 0, NULL, 1);
                """);
        }

        using var store = new SqliteGatewayStore(Options.Create(new GatewayOptions { Store = { Path = _path } }));
        await store.InitializeAsync(CancellationToken.None);
        Assert.That((await store.GetKeyAsync("key_used", CancellationToken.None))!.LastUsedAt, Is.EqualTo(T0), "the time stored before the upgrade");
        Assert.That((await store.GetKeyAsync("key_idle", CancellationToken.None))!.LastUsedAt, Is.Null);

        var keysBefore = KeysRows();
        await store.RecordKeyUsageAsync([new("key_used", T0.AddHours(1)), new("key_idle", T0.AddHours(2)), new("key_gone", T0.AddHours(3))], CancellationToken.None);

        Assert.That((await store.GetKeyAsync("key_used", CancellationToken.None))!.LastUsedAt, Is.EqualTo(T0.AddHours(1)));
        Assert.That((await store.FindKeyByHashAsync("hash-idle", CancellationToken.None))!.LastUsedAt, Is.EqualTo(T0.AddHours(2)));
        Assert.That(KeysRows(), Is.EqualTo(keysBefore), "no row of keys rewritten by a use");
        using var check = Connect();
        Assert.That(check.Scalar("SELECT count(*) FROM keys WHERE last_used_at IS NOT NULL;"), Is.Zero, "the old column is emptied once its times moved");
        Assert.That(check.Scalar("SELECT count(*) FROM key_last_used;"), Is.EqualTo(2), "no row for a key that is not stored");
        Assert.That(check.Scalar("PRAGMA user_version;"), Is.EqualTo(SqliteGatewayStore.SchemaVersion));
    }

    private SqliteConnection Connect() => SqliteCommands.Open(_path);

    /// <summary>Every column of every keys row, as text, in id order.</summary>
    private List<string> KeysRows()
    {
        using var connection = Connect();
        using var command = connection.CreateCommand();
        command.CommandText = "SELECT * FROM keys ORDER BY id;";
        using var reader = command.ExecuteReader();
        var rows = new List<string>();
        while (reader.Read())
        {
            rows.Add(string.Join('|', Enumerable.Range(0, reader.FieldCount).Select(i => reader.IsDBNull(i) ? "NULL" : Convert.ToString(reader.GetValue(i), System.Globalization.CultureInfo.InvariantCulture))));
        }

        return rows;
    }
}
