using Microsoft.Data.Sqlite;

namespace Gateway.Stores.Sqlite;

/// <summary>
/// Consistent copies of the embedded store through SQLite's online backup API: a backup runs while
/// gateways read and write (it copies one snapshot, never a torn file), and a restore writes a verified
/// copy back through the same API under an exclusive lock, so it cannot interleave with a gateway.
/// </summary>
internal static class SqliteBackup
{
    private static readonly string[] Tables = ["orgs", "keys", "audit"];

    /// <summary>Copies <paramref name="store"/> into the new file <paramref name="target"/>; returns its schema version.</summary>
    public static int Backup(string store, string target)
    {
        if (!File.Exists(store))
        {
            throw new BackupException($"No store at '{store}'.");
        }

        if (File.Exists(target))
        {
            throw new BackupException($"'{target}' exists; choose a new file name.");
        }

        var partial = target + ".partial";
        File.Delete(partial);
        try
        {
            // A backup holds every key hash: created 0600 before SQLite writes to it (its -wal and -journal
            // take its mode), so it is never readable by others, not even for a moment.
            var problems = new List<string>();
            SqliteFiles.CreatePrivateFile(partial, problems);
            if (problems.Count > 0)
            {
                throw new BackupException(problems[0] + ".");
            }

            using (var source = Open(store, SqliteOpenMode.ReadOnly))
            using (var copy = Open(partial, SqliteOpenMode.ReadWriteCreate))
            {
                // One backup step copies every page under a single read transaction: one consistent snapshot.
                source.BackupDatabase(copy);

                // A backup is one self-contained file, not a WAL database that needs its -wal beside it.
                Execute(copy, "PRAGMA journal_mode=DELETE;");
            }

            var version = Verify(partial);
            File.Move(partial, target);
            SqliteFiles.Tighten(target, []);
            return version;
        }
        finally
        {
            File.Delete(partial);
        }
    }

    /// <summary>
    /// Replaces the content of <paramref name="store"/> with the verified backup <paramref name="backup"/>.
    /// Refused while any other connection (a running gateway) has the store open.
    /// </summary>
    public static int Restore(string backup, string store)
    {
        if (!File.Exists(backup))
        {
            throw new BackupException($"No backup at '{backup}'.");
        }

        var version = Verify(backup);

        // As a gateway starting on it would: a 0700 directory, a 0600 store file (and -wal, -shm).
        SqliteFiles.Prepare(store);

        using var source = Open(backup, SqliteOpenMode.ReadOnly);
        using var target = Open(store, SqliteOpenMode.ReadWriteCreate);
        Execute(target, "PRAGMA busy_timeout = 0;");
        try
        {
            // Exclusive locking mode keeps the lock after the transaction ends. A gateway that has the
            // store open holds a shared lock on it in WAL mode, so this fails while one runs.
            Execute(target, "PRAGMA locking_mode=EXCLUSIVE;");
            Execute(target, "BEGIN EXCLUSIVE; COMMIT;");
        }
        catch (SqliteException ex) when (ex.SqliteErrorCode is 5 or 6)
        {
            throw new BackupException($"The store '{store}' is in use (a gateway is running on it); stop every gateway using it, then restore.");
        }

        source.BackupDatabase(target);
        return version;
    }

    /// <summary>Checks that <paramref name="path"/> is an intact gateway store of a schema this gateway reads.</summary>
    public static int Verify(string path)
    {
        try
        {
            using var connection = Open(path, SqliteOpenMode.ReadOnly);
            var integrity = Scalar(connection, "PRAGMA integrity_check;");
            if (!string.Equals(integrity, "ok", StringComparison.Ordinal))
            {
                throw new BackupException($"'{path}' is damaged: {integrity}.");
            }

            var version = int.Parse(Scalar(connection, "PRAGMA user_version;")!, System.Globalization.CultureInfo.InvariantCulture);
            if (version is < 1 or > SqliteGatewayStore.SchemaVersion)
            {
                throw new BackupException($"'{path}' has schema version {version}; this gateway reads versions 1 to {SqliteGatewayStore.SchemaVersion}.");
            }

            foreach (var table in Tables)
            {
                using var command = connection.CreateCommand();
                command.CommandText = "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = $name;";
                command.Parameters.AddWithValue("$name", table);
                if (Convert.ToInt64(command.ExecuteScalar(), System.Globalization.CultureInfo.InvariantCulture) != 1)
                {
                    throw new BackupException($"'{path}' is not a gateway store (no '{table}' table).");
                }
            }

            return version;
        }
        catch (SqliteException ex)
        {
            throw new BackupException($"'{path}' is not a gateway store: {ex.Message}");
        }
    }

    private static SqliteConnection Open(string path, SqliteOpenMode mode)
    {
        // No pooling: a command must let go of the files when it ends.
        var connection = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = path, Mode = mode, Pooling = false, DefaultTimeout = 5 }.ToString());
        connection.Open();
        return connection;
    }

    private static void Execute(SqliteConnection connection, string sql)
    {
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        command.ExecuteNonQuery();
    }

    private static string? Scalar(SqliteConnection connection, string sql)
    {
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        return Convert.ToString(command.ExecuteScalar(), System.Globalization.CultureInfo.InvariantCulture);
    }
}

/// <summary>A backup or restore that cannot go ahead, with the reason for the operator.</summary>
internal sealed class BackupException(string message) : Exception(message);
