namespace Gateway.Stores.Sqlite;

/// <summary>
/// The store file holds every key hash, the audit log and usage: it and its directory are the gateway
/// user's alone (0600 files, a 0700 directory), whatever the process umask. Modes are set explicitly after
/// creation, because a umask only ever removes bits, and tightened on every start, because versions before
/// this one created them 0644 and 0755. SQLite gives the <c>-wal</c>, <c>-shm</c> and <c>-journal</c> files
/// it creates the mode of the database file, so creating that file 0600 before SQLite opens it covers them;
/// ones left by an older version are tightened here too.
/// </summary>
internal static class SqliteFiles
{
    public const UnixFileMode FileMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
    public const UnixFileMode DirectoryMode = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;

    private const UnixFileMode GroupAndOther = UnixFileMode.GroupRead | UnixFileMode.GroupWrite | UnixFileMode.GroupExecute
        | UnixFileMode.OtherRead | UnixFileMode.OtherWrite | UnixFileMode.OtherExecute;

    private static readonly string[] Sidecars = ["-wal", "-shm", "-journal"];

    /// <summary>
    /// Creates the store's directory (0700) and an empty store file (0600) if missing, and tightens existing
    /// ones. Returns what could not be tightened (not ours to change, a shared directory), for a warning.
    /// </summary>
    public static IReadOnlyList<string> Prepare(string storePath)
    {
        var problems = new List<string>();
        if (OperatingSystem.IsWindows())
        {
            return problems;
        }

        if (Path.GetDirectoryName(Path.GetFullPath(storePath)) is { Length: > 0 } directory)
        {
            PrepareDirectory(directory, problems);
        }

        CreatePrivateFile(storePath, problems);
        foreach (var sidecar in Sidecars)
        {
            Tighten(storePath + sidecar, problems);
        }

        return problems;
    }

    /// <summary>Creates <paramref name="directory"/> 0700 if missing (parents too), or tightens it when it is the store's own.</summary>
    public static void PrepareDirectory(string directory, List<string> problems)
    {
        if (OperatingSystem.IsWindows())
        {
            return;
        }

        if (!Directory.Exists(directory))
        {
            Directory.CreateDirectory(directory, DirectoryMode);
        }

        try
        {
            var full = Path.GetFullPath(directory);
            var mode = File.GetUnixFileMode(full);

            // A sticky directory (/tmp) or the root is shared by design: its mode is not the gateway's to change.
            if ((mode & UnixFileMode.StickyBit) != 0 || Path.GetPathRoot(full) == full)
            {
                problems.Add($"'{full}' is a shared directory (mode {Octal(mode)}); give the store a directory of its own");
                return;
            }

            // Group and other lose every bit; the owner's bits (and a setgid bit) stay as they are.
            if ((mode & GroupAndOther) != 0)
            {
                File.SetUnixFileMode(full, mode & ~GroupAndOther);
            }
        }
        catch (Exception ex) when (ex is UnauthorizedAccessException or IOException)
        {
            problems.Add($"'{directory}' could not be made 0700: {ex.Message}");
        }
    }

    /// <summary>Creates <paramref name="path"/> empty with mode 0600 if missing, else tightens it to 0600.</summary>
    public static void CreatePrivateFile(string path, List<string> problems)
    {
        if (OperatingSystem.IsWindows())
        {
            return;
        }

        try
        {
            // CreateNew: never truncates a store another process created a moment ago. An empty file is an
            // empty SQLite database.
            using (new FileStream(path, new FileStreamOptions { Mode = System.IO.FileMode.CreateNew, Access = FileAccess.Write, UnixCreateMode = FileMode }))
            {
            }
        }
        catch (IOException) when (File.Exists(path))
        {
        }

        Tighten(path, problems);
    }

    /// <summary>Sets 0600 on <paramref name="path"/> when it exists and allows more.</summary>
    public static void Tighten(string path, List<string> problems)
    {
        if (OperatingSystem.IsWindows() || !File.Exists(path))
        {
            return;
        }

        try
        {
            if (File.GetUnixFileMode(path) != FileMode)
            {
                File.SetUnixFileMode(path, FileMode);
            }
        }
        catch (Exception ex) when (ex is UnauthorizedAccessException or IOException)
        {
            problems.Add($"'{path}' could not be made 0600: {ex.Message}");
        }
    }

    private static string Octal(UnixFileMode mode) => Convert.ToString((int)mode & 0xFFF, 8).PadLeft(4, '0');
}
