using Gateway.Configuration;
using Gateway.Domain;
using Gateway.Observability;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Options;

namespace Gateway.Stores.Sqlite;

/// <summary>
/// The embedded store: one SQLite file in WAL mode. Connections come from Microsoft.Data.Sqlite's
/// pool, so opening one per call is cheap; key lookups, the request path's read, keep theirs with their
/// statements prepared (<see cref="SqliteKeyReaders"/>). Times are Unix milliseconds so they sort and compare in SQL.
/// </summary>
internal sealed partial class SqliteGatewayStore : IGatewayStore, IDisposable
{
    internal const int SchemaVersion = 12;
    private const int SqliteConstraint = 19;

    private readonly SqliteDatabase _database;
    private readonly SqliteKeyReaders _keyReaders;
    private readonly SqliteBackgroundWriter _writer;
    private readonly bool _ownsWriter;
    private readonly string _path;

    private readonly ILogger _logger;

    // Set once a read met a damaged page or row; readiness answers 503 from then on (a restore needs a restart anyway).
    private volatile StoreDamagedException? _damaged;

    public SqliteGatewayStore(IOptions<GatewayOptions> options, ILogger<SqliteGatewayStore>? logger = null, SqliteBackgroundWriter? writer = null)
    {
        _database = new SqliteDatabase(options.Value.Store.Path, SqliteOpenMode.ReadWriteCreate);
        _path = _database.Path;
        _keyReaders = new SqliteKeyReaders(_database);
        _ownsWriter = writer is null;
        _writer = writer ?? new SqliteBackgroundWriter(options);
        _logger = logger ?? (ILogger)Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance;
    }

    public async Task InitializeAsync(CancellationToken cancellationToken)
    {
        if (Directory.Exists(_path))
        {
            // Otherwise creating the file fails with "The file '...' already exists", which sends the operator looking for a file.
            throw new InvalidOperationException(
                $"Gateway:Store:Path '{_path}' is a directory; give the path of the store's file (for example '{Path.Combine(_path, "gateway.db")}').");
        }

        try
        {
            await InitializeCoreAsync(cancellationToken);
        }
        catch (Exception ex) when (ex is SqliteException or IOException or UnauthorizedAccessException)
        {
            // Printed by Program as the one line of a failed start: which setting, which file, and why.
            var why = ex is SqliteException { SqliteErrorCode: 26 } ? "is not a gateway store: " + ex.Message : "cannot be used: " + ex.Message;
            throw new InvalidOperationException($"Gateway:Store:Path '{_path}' {why}", ex);
        }
    }

    private async Task InitializeCoreAsync(CancellationToken cancellationToken)
    {
        // Before SQLite creates anything: a missing file is created 0600 (its -wal and -shm follow its mode) in a
        // directory created 0700. What was there is tightened only once it is known to be a gateway store: a
        // mistyped Store:Path must not change the modes of someone else's file and directory on its way to being refused.
        var created = SqliteFiles.CreateMissing(_path);
        try
        {
            var secured = !created.File && SqliteFiles.HasGatewayHeader(_path);
            if (secured)
            {
                // What an older version left 0644/0755, tightened before SQLite creates a -wal with the file's mode.
                LogNotPrivate(SqliteFiles.Secure(_path));
            }

            await MigrateAsync(cancellationToken);
            if (!secured)
            {
                LogNotPrivate(SqliteFiles.Secure(_path));
            }
        }
        catch
        {
            created.Undo();
            throw;
        }
    }

    private void LogNotPrivate(IReadOnlyList<string> problems)
    {
        foreach (var problem in problems)
        {
            Log.NotPrivate(_logger, problem);
        }
    }

    private async Task MigrateAsync(CancellationToken cancellationToken)
    {
        await using var connection = await OpenAsync(cancellationToken);
        await ExecuteAsync(connection, "PRAGMA journal_mode=WAL;", cancellationToken);
        var version = Convert.ToInt32(await ScalarAsync(connection, "PRAGMA user_version;", cancellationToken), System.Globalization.CultureInfo.InvariantCulture);
        if (version > SchemaVersion)
        {
            throw new InvalidOperationException($"Gateway:Store:Path '{_path}' has schema version {version}, newer than this gateway ({SchemaVersion}).");
        }

        if (version < SchemaVersion)
        {
            // An immediate transaction: a second process migrating the same file waits, then finds nothing left to do.
            await using var tx = (SqliteTransaction)await connection.BeginTransactionAsync(cancellationToken);
            version = Convert.ToInt32(await ScalarAsync(connection, "PRAGMA user_version;", cancellationToken, tx), System.Globalization.CultureInfo.InvariantCulture);
            for (; version < SchemaVersion; version++)
            {
                await ExecuteAsync(connection, SqliteSchema.Migrations[version], cancellationToken, tx);
            }

            await ExecuteAsync(connection, $"PRAGMA user_version = {SchemaVersion};", cancellationToken, tx);
            await tx.CommitAsync(cancellationToken);
        }
    }

    public async Task PingAsync(CancellationToken cancellationToken)
    {
        if (_damaged is { } damaged)
        {
            throw new StoreDamagedException(damaged.Message, damaged.InnerException!);
        }

        await using var connection = await OpenAsync(cancellationToken);
        await ScalarAsync(connection, "SELECT count(*) FROM orgs;", cancellationToken);
        try
        {
            // A read of the keys as a lookup makes one, cheap at any size: the hash index from its root to a leaf, and
            // the table's first row through the same mapper. A store that answers this but cannot serve keys
            // answered 200 here while every key got 503.
            await ScalarAsync(connection, "SELECT count(*) FROM keys WHERE hash = '';", cancellationToken);
            await using var command = connection.CreateCommand();
            command.CommandText = "SELECT " + SqliteKeyMapper.Columns + " FROM keys WHERE rowid = (SELECT min(rowid) FROM keys);";
            await using var reader = await command.ExecuteReaderAsync(cancellationToken);
            if (await reader.ReadAsync(cancellationToken))
            {
                SqliteKeyMapper.Read(reader);
            }
        }
        catch (Exception ex) when (IsDamage(ex))
        {
            throw Damaged(ex);
        }
    }

    /// <summary>
    /// What SQLite reports for a damaged file (SQLITE_CORRUPT, SQLITE_NOTADB), and what reading a malformed row
    /// throws: not an outage that passes, so it is remembered for readiness (<see cref="Damaged"/>).
    /// </summary>
    private static bool IsDamage(Exception ex) =>
        ex is SqliteException { SqliteErrorCode: 11 or 26 } or IndexOutOfRangeException or InvalidCastException or FormatException or OverflowException;

    private StoreDamagedException Damaged(Exception ex)
    {
        var damaged = new StoreDamagedException(
            $"The store '{_path}' could not read its keys and may be damaged ({ex.GetType().Name}: {ex.Message}). "
            + $"Check it with: sqlite3 '{_path}' 'PRAGMA integrity_check;' and, if it reports errors, stop the gateway and restore the latest backup (docs/operations.md, Backups).",
            ex);
        _damaged ??= damaged;
        return damaged;
    }

    public async Task CreateOrganizationAsync(Organization organization, ApiKeyRecord defaultKey, AuditEntry audit, CancellationToken cancellationToken)
    {
        await using var connection = await OpenAsync(cancellationToken);
        await using var tx = (SqliteTransaction)await connection.BeginTransactionAsync(cancellationToken);
        await using (var command = connection.CreateCommand())
        {
            command.Transaction = tx;
            command.CommandText = "INSERT INTO orgs (id, name, created_at, default_key_id) VALUES ($id, $name, $created, $key);";
            command.Parameters.AddWithValue("$id", organization.Id);
            command.Parameters.AddWithValue("$name", organization.Name);
            command.Parameters.AddWithValue("$created", organization.CreatedAt.ToUnixTimeMilliseconds());
            command.Parameters.AddWithValue("$key", organization.DefaultKeyId);
            await RunWriteAsync(command, cancellationToken);
        }

        await InsertKeyAsync(connection, tx, defaultKey, cancellationToken);
        await InsertAuditAsync(connection, tx, audit, cancellationToken);
        await tx.CommitAsync(cancellationToken);
    }

    public async Task<Organization?> GetOrganizationAsync(string id, CancellationToken cancellationToken)
    {
        await using var connection = await OpenAsync(cancellationToken);
        await using var command = connection.CreateCommand();
        command.CommandText = "SELECT id, name, created_at, default_key_id FROM orgs WHERE id = $id;";
        command.Parameters.AddWithValue("$id", id);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        return await reader.ReadAsync(cancellationToken) ? ReadOrganization(reader) : null;
    }

    public async Task<IReadOnlyList<Organization>> ListOrganizationsAsync(CancellationToken cancellationToken)
    {
        await using var connection = await OpenAsync(cancellationToken);
        await using var command = connection.CreateCommand();
        command.CommandText = "SELECT id, name, created_at, default_key_id FROM orgs ORDER BY id;";
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        var result = new List<Organization>();
        while (await reader.ReadAsync(cancellationToken))
        {
            result.Add(ReadOrganization(reader));
        }

        return result;
    }

    public async Task CreateKeyAsync(ApiKeyRecord key, AuditEntry audit, CancellationToken cancellationToken)
    {
        await using var connection = await OpenAsync(cancellationToken);
        await using var tx = (SqliteTransaction)await connection.BeginTransactionAsync(cancellationToken);
        await InsertKeyAsync(connection, tx, key, cancellationToken);
        await InsertAuditAsync(connection, tx, audit, cancellationToken);
        await tx.CommitAsync(cancellationToken);
    }

    public async Task UpdateKeyAsync(ApiKeyRecord key, long expectedVersion, AuditEntry audit, CancellationToken cancellationToken)
    {
        await using var connection = await OpenAsync(cancellationToken);
        await using var tx = (SqliteTransaction)await connection.BeginTransactionAsync(cancellationToken);
        await using (var command = connection.CreateCommand())
        {
            command.Transaction = tx;
            command.CommandText = """
                UPDATE keys SET name = $name, prefix = $prefix, hash = $hash, previous_hash = $previous_hash,
                  previous_hash_expires_at = $previous_hash_expires_at, scopes = $scopes, state = $state,
                  description = $description, updated_at = $updated_at, expires_at = $expires_at,
                  revoked_at = $revoked_at, customer_id = $customer_id, rate_limit_permits = $rate_limit_permits,
                  rate_limit_window_ms = $rate_limit_window_ms, allowed_cidrs = $allowed_cidrs, credits = $credits, version = $version
                WHERE id = $id AND version = $expected_version;
                """;
            AddKeyParameters(command, key);
            command.Parameters.AddWithValue("$expected_version", expectedVersion);
            if (await RunWriteAsync(command, cancellationToken) == 0)
            {
                throw StoreConcurrencyException.KeyChanged(key.Id);
            }
        }

        await InsertAuditAsync(connection, tx, audit, cancellationToken);
        await tx.CommitAsync(cancellationToken);
    }

    public Task<ApiKeyRecord?> GetKeyAsync(string id, CancellationToken cancellationToken) =>
        QuerySingleKeyAsync("SELECT " + SqliteKeyMapper.Columns + " FROM keys WHERE id = $p;", id, cancellationToken);

    /// <summary>The request path's read (a key cache miss): on connections of its own with prepared statements.</summary>
    public async Task<ApiKeyRecord?> FindKeyByHashAsync(string hash, CancellationToken cancellationToken)
    {
        try
        {
            return await _keyReaders.FindAsync(hash, cancellationToken);
        }
        catch (Exception ex) when (IsDamage(ex))
        {
            throw Damaged(ex);
        }
    }

    /// <summary>Closes the key lookup's connections and, when the store made its own, the background writer's (a restore is refused while any is open).</summary>
    public void Dispose()
    {
        _keyReaders.Dispose();
        if (_ownsWriter)
        {
            _writer.Dispose();
        }
    }

    public async Task<IReadOnlyList<ApiKeyRecord>> ListKeysAsync(string orgId, CancellationToken cancellationToken)
    {
        await using var connection = await OpenAsync(cancellationToken);
        await using var command = connection.CreateCommand();
        command.CommandText = "SELECT " + SqliteKeyMapper.Columns + " FROM keys WHERE org_id = $org ORDER BY created_at, id;";
        command.Parameters.AddWithValue("$org", orgId);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        var result = new List<ApiKeyRecord>();
        while (await reader.ReadAsync(cancellationToken))
        {
            result.Add(SqliteKeyMapper.Read(reader));
        }

        return result;
    }

    public async Task<AuditPage> ListAuditAsync(string orgId, string? cursor, int limit, CancellationToken cancellationToken)
    {
        var before = long.MaxValue;
        if (cursor is not null && (!long.TryParse(cursor, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out before) || before < 1))
        {
            throw new StoreCursorException();
        }

        await using var connection = await OpenAsync(cancellationToken);
        await using var command = connection.CreateCommand();
        command.CommandText = "SELECT seq, id, org_id, key_id, action, actor, at, changes, caller FROM audit WHERE org_id = $org AND seq < $before ORDER BY seq DESC LIMIT $limit;";
        command.Parameters.AddWithValue("$org", orgId);
        command.Parameters.AddWithValue("$before", before);
        command.Parameters.AddWithValue("$limit", limit + 1);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        var items = new List<AuditEntry>();
        long lastSeq = 0;
        var more = false;
        while (await reader.ReadAsync(cancellationToken))
        {
            if (items.Count == limit)
            {
                more = true;
                break;
            }

            lastSeq = reader.GetInt64(0);
            items.Add(new AuditEntry(
                reader.GetString(1),
                reader.GetString(2),
                reader.IsDBNull(3) ? null : reader.GetString(3),
                reader.GetString(4),
                reader.GetString(5),
                DateTimeOffset.FromUnixTimeMilliseconds(reader.GetInt64(6)),
                reader.IsDBNull(7) ? null : reader.GetString(7),
                reader.IsDBNull(8) ? null : reader.GetString(8)));
        }

        return new AuditPage(items, more ? lastSeq.ToString(System.Globalization.CultureInfo.InvariantCulture) : null);
    }

    public Task RecordKeyUsageAsync(IReadOnlyCollection<KeyValuePair<string, DateTimeOffset>> usage, CancellationToken cancellationToken)
    {
        if (usage.Count == 0)
        {
            return Task.CompletedTask;
        }

        return _writer.RunAsync(connection =>
        {
            using var tx = connection.BeginTransaction();
            // A key that is not stored (never, or not yet on this file) gets no row; a time goes only forward.
            using (var upsert = new SqliteRowStatement(connection, """
                INSERT INTO key_last_used (id, at) SELECT ?1, ?2 WHERE EXISTS (SELECT 1 FROM keys WHERE id = ?1)
                ON CONFLICT (id) DO UPDATE SET at = excluded.at WHERE excluded.at > key_last_used.at;
                """))
            {
                foreach (var (keyId, time) in usage)
                {
                    upsert.Bind(1, keyId);
                    upsert.Bind(2, time.ToUnixTimeMilliseconds());
                    upsert.Run();
                }
            }

            tx.Commit();
        }, cancellationToken);
    }

    private async Task<ApiKeyRecord?> QuerySingleKeyAsync(string sql, string parameter, CancellationToken cancellationToken)
    {
        await using var connection = await OpenAsync(cancellationToken);
        await using var command = connection.CreateCommand();
        command.CommandText = sql;
        command.Parameters.AddWithValue("$p", parameter);
        return await ReadKeyAsync(command, cancellationToken);
    }

    private static async Task<ApiKeyRecord?> ReadKeyAsync(SqliteCommand command, CancellationToken cancellationToken)
    {
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        return await reader.ReadAsync(cancellationToken) ? SqliteKeyMapper.Read(reader) : null;
    }

    private Task<SqliteConnection> OpenAsync(CancellationToken cancellationToken) => _database.OpenAsync(cancellationToken);

    private static async Task InsertKeyAsync(SqliteConnection connection, SqliteTransaction tx, ApiKeyRecord key, CancellationToken cancellationToken)
    {
        await using var command = connection.CreateCommand();
        command.Transaction = tx;
        command.CommandText = """
            INSERT INTO keys (id, org_id, name, prefix, hash, previous_hash, previous_hash_expires_at, environment, scopes,
              state, is_default, description, created_by, created_at, updated_at, expires_at, last_used_at, revoked_at,
              customer_id, rate_limit_permits, rate_limit_window_ms, allowed_cidrs, credits, version)
            VALUES ($id, $org_id, $name, $prefix, $hash, $previous_hash, $previous_hash_expires_at, $environment, $scopes,
              $state, $is_default, $description, $created_by, $created_at, $updated_at, $expires_at, NULL, $revoked_at,
              $customer_id, $rate_limit_permits, $rate_limit_window_ms, $allowed_cidrs, $credits, $version);
            """;
        AddKeyParameters(command, key);
        await RunWriteAsync(command, cancellationToken);
    }

    private static void AddKeyParameters(SqliteCommand command, ApiKeyRecord key)
    {
        var p = command.Parameters;
        p.AddWithValue("$id", key.Id);
        p.AddWithValue("$org_id", key.OrgId);
        p.AddWithValue("$name", key.Name);
        p.AddWithValue("$prefix", key.Prefix);
        p.AddWithValue("$hash", key.Hash);
        p.AddWithValue("$previous_hash", (object?)key.PreviousHash ?? DBNull.Value);
        p.AddWithValue("$previous_hash_expires_at", Millis(key.PreviousHashExpiresAt));
        p.AddWithValue("$environment", key.Environment);
        p.AddWithValue("$scopes", string.Join(' ', key.Scopes));
        p.AddWithValue("$state", SqliteKeyMapper.StateToText(key.State));
        p.AddWithValue("$is_default", key.IsDefault ? 1 : 0);
        p.AddWithValue("$description", (object?)key.Description ?? DBNull.Value);
        p.AddWithValue("$created_by", (object?)key.CreatedBy ?? DBNull.Value);
        p.AddWithValue("$created_at", key.CreatedAt.ToUnixTimeMilliseconds());
        p.AddWithValue("$updated_at", key.UpdatedAt.ToUnixTimeMilliseconds());
        p.AddWithValue("$expires_at", Millis(key.ExpiresAt));
        p.AddWithValue("$revoked_at", Millis(key.RevokedAt));
        p.AddWithValue("$customer_id", (object?)key.CustomerId ?? DBNull.Value);
        p.AddWithValue("$rate_limit_permits", key.RateLimit is { } r1 ? r1.PermitLimit : DBNull.Value);
        p.AddWithValue("$rate_limit_window_ms", key.RateLimit is { } r2 ? (long)r2.Window.TotalMilliseconds : DBNull.Value);
        p.AddWithValue("$allowed_cidrs", key.AllowedCidrs.Count == 0 ? DBNull.Value : string.Join(' ', key.AllowedCidrs));
        p.AddWithValue("$credits", (object?)SqliteKeyMapper.CreditsToText(key.Credits) ?? DBNull.Value);
        p.AddWithValue("$version", key.Version);
    }

    private static Task InsertAuditAsync(SqliteConnection connection, SqliteTransaction tx, AuditEntry audit, CancellationToken cancellationToken) =>
        SqliteAudit.InsertAsync(connection, tx, audit, cancellationToken);

    private static async Task<int> RunWriteAsync(SqliteCommand command, CancellationToken cancellationToken)
    {
        try
        {
            return await command.ExecuteNonQueryAsync(cancellationToken);
        }
        catch (SqliteException ex) when (ex.SqliteErrorCode == SqliteConstraint)
        {
            // The message names the index columns; map them back to the API field that collided.
            if (ex.Message.Contains("orgs.id", StringComparison.Ordinal))
            {
                throw StoreConflictException.OrganizationId();
            }

            if (ex.Message.Contains("keys.name", StringComparison.Ordinal))
            {
                throw StoreConflictException.KeyName();
            }

            throw new StoreConflictException("id", "The record conflicts with an existing one.");
        }
    }

    private static async Task ExecuteAsync(SqliteConnection connection, string sql, CancellationToken cancellationToken, SqliteTransaction? tx = null)
    {
        await using var command = connection.CreateCommand();
        command.Transaction = tx;
        command.CommandText = sql;
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    private static async Task<object?> ScalarAsync(SqliteConnection connection, string sql, CancellationToken cancellationToken, SqliteTransaction? tx = null)
    {
        await using var command = connection.CreateCommand();
        command.Transaction = tx;
        command.CommandText = sql;
        return await command.ExecuteScalarAsync(cancellationToken);
    }

    private static object Millis(DateTimeOffset? value) => value is { } v ? v.ToUnixTimeMilliseconds() : DBNull.Value;

    private static Organization ReadOrganization(SqliteDataReader reader) => new(
        reader.GetString(0),
        reader.GetString(1),
        DateTimeOffset.FromUnixTimeMilliseconds(reader.GetInt64(2)),
        reader.GetString(3));

    private static partial class Log
    {
        [LoggerMessage(EventId = EventIds.StoreFilesNotPrivate, Level = LogLevel.Warning, Message = "The store's files should be readable by the gateway's user only: {Problem}.")]
        public static partial void NotPrivate(ILogger logger, string problem);
    }
}
