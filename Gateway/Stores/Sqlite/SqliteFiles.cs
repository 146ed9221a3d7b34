namespace Gateway.Stores.Sqlite;

/// <summary>
/// The store file holds every key hash, the audit log and usage: it and its directory are the gateway
/// user's alone (0600 files, a 0700 directory), whatever the process umask. Modes are set explicitly after
/// creation, because a umask only ever removes bits, and tightened on every start, because versions before
/// this one created them 0644 and 0755. SQLite gives the <c>-wal</c>, <c>-shm</c> and <c>-journal</c> files
/// it creates the mode of the database file, so creating that file 0600 before SQLite opens it covers them;
/// ones left by an older version are tightened here too. Only what the gateway created, or a file shown to be
/// a gateway store, is tightened: a <c>Store:Path</c> naming someone else's file is refused with every mode as
/// it was (it once left that file 0600 and its directory 0700).
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
    /// For a store about to be overwritten by a verified backup; a starting gateway uses <see cref="CreateMissing"/>.
    /// </summary>
    public static IReadOnlyList<string> Prepare(string storePath)
    {
        CreateMissing(storePath);
        return Secure(storePath);
    }

    /// <summary>
    /// Creates what is missing, the store's directory (0700, parents too) and an empty store file (0600), and
    /// tightens nothing that was there: whether an existing file is a gateway store is not known yet.
    /// <see cref="CreatedFiles.Undo"/> removes what it created when the start is refused.
    /// </summary>
    public static CreatedFiles CreateMissing(string storePath)
    {
        var full = Path.GetFullPath(storePath);
        if (Directory.Exists(full))
        {
            throw new IOException("it is a directory.");
        }

        var directories = new List<string>();
        for (var directory = Path.GetDirectoryName(full); directory is { Length: > 0 } && !Directory.Exists(directory); directory = Path.GetDirectoryName(directory))
        {
            directories.Add(directory);
        }

        if (directories.Count > 0)
        {
            if (OperatingSystem.IsWindows())
            {
                Directory.CreateDirectory(directories[0]);
            }
            else
            {
                Directory.CreateDirectory(directories[0], DirectoryMode);
            }
        }

        var created = new CreatedFiles(full, directories);
        try
        {
            // CreateNew: never truncates a store another process created a moment ago. An empty file is an
            // empty SQLite database.
            var options = new FileStreamOptions { Mode = System.IO.FileMode.CreateNew, Access = FileAccess.Write };
            if (!OperatingSystem.IsWindows())
            {
                options.UnixCreateMode = FileMode;
            }

            using (new FileStream(full, options))
            {
            }

            created.File = true;
        }
        catch (IOException) when (File.Exists(full))
        {
        }
        catch
        {
            created.Undo();
            throw;
        }

        return created;
    }

    /// <summary>
    /// Tightens the store file, its <c>-wal</c>, <c>-shm</c> and <c>-journal</c>, and its directory, once the file is
    /// known to be a gateway store. Returns what could not be tightened, for a warning.
    /// </summary>
    public static IReadOnlyList<string> Secure(string storePath)
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

        Tighten(storePath, problems);
        foreach (var sidecar in Sidecars)
        {
            Tighten(storePath + sidecar, problems);
        }

        return problems;
    }

    /// <summary>
    /// Whether <paramref name="path"/> starts with an SQLite header whose <c>user_version</c> (bytes 60 to 63) is set,
    /// as every gateway store's is: read without SQLite, so that its modes can be tightened before SQLite creates the
    /// <c>-wal</c> and <c>-shm</c> beside it with the file's mode. A store whose last migration is still in its
    /// <c>-wal</c> reads as not one here, and is tightened once SQLite has opened it.
    /// </summary>
    public static bool HasGatewayHeader(string path)
    {
        Span<byte> header = stackalloc byte[64];
        try
        {
            using var stream = new FileStream(path, System.IO.FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
            if (stream.ReadAtLeast(header, header.Length, throwOnEndOfStream: false) < header.Length)
            {
                return false;
            }
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return false;
        }

        return header[..16].SequenceEqual("SQLite format 3\0"u8) && System.Buffers.Binary.BinaryPrimitives.ReadInt32BigEndian(header[60..]) > 0;
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

    /// <summary>What <see cref="CreateMissing"/> created, so that a refused start can take it away again.</summary>
    internal sealed class CreatedFiles(string path, IReadOnlyList<string> directories)
    {
        /// <summary>Whether the store file was created (empty) by this start.</summary>
        public bool File { get; set; }

        /// <summary>Removes the store file (with what SQLite put beside it) and the directories this start created, if still empty.</summary>
        public void Undo()
        {
            try
            {
                if (File)
                {
                    foreach (var suffix in (string[])["", .. Sidecars])
                    {
                        System.IO.File.Delete(path + suffix);
                    }
                }

                // Deepest first; one that something else has filled meanwhile stays.
                foreach (var directory in directories)
                {
                    if (Directory.Exists(directory) && !Directory.EnumerateFileSystemEntries(directory).Any())
                    {
                        Directory.Delete(directory);
                    }
                }
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                // The start is refused either way; its own reason is the one to report.
            }
        }
    }

    private static string Octal(UnixFileMode mode) => Convert.ToString((int)mode & 0xFFF, 8).PadLeft(4, '0');
}
