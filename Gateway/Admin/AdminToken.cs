using Gateway.Configuration;
using Gateway.Observability;
using Microsoft.Extensions.Options;

namespace Gateway.Admin;

/// <summary>
/// The admin bearer token: <c>Gateway:Admin:Token</c> when set; otherwise generated once, saved next to
/// the store file as <c>admin-token</c> (mode 0600) and reused on later starts.
/// </summary>
internal sealed partial class AdminToken
{
    private readonly Lazy<string> _value;

    public AdminToken(IOptions<GatewayOptions> options, ILogger<AdminToken> logger)
    {
        _value = new Lazy<string>(() => Resolve(options.Value, logger));
    }

    public string Value => _value.Value;

    public static string FilePath(GatewayOptions options) =>
        Path.Combine(Path.GetDirectoryName(Path.GetFullPath(options.Store.Path)) ?? ".", "admin-token");

    private static string Resolve(GatewayOptions options, ILogger logger)
    {
        if (!string.IsNullOrEmpty(options.Admin.Token))
        {
            return options.Admin.Token;
        }

        var path = FilePath(options);
        try
        {
            return ResolveFile(path, logger);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            // Printed by Program as the one line of a failed start, not an unhandled exception (exit 134).
            throw new InvalidOperationException($"Gateway:Admin:Token is not set and the admin token file '{path}' cannot be used: {ex.Message} Fix the file or its permissions, or set Gateway:Admin:Token.", ex);
        }
    }

    private static string ResolveFile(string path, ILogger logger)
    {
        if (Directory.Exists(path))
        {
            throw new IOException("it is a directory.");
        }

        if (File.Exists(path))
        {
            // A token others could read (or have written) is no secret: it is replaced, not used.
            if (!OperatingSystem.IsWindows() && (File.GetUnixFileMode(path) & OpenToOthers) != 0)
            {
                Log.TokenFileNotPrivate(logger, path);
            }
            else
            {
                var saved = File.ReadAllText(path).Trim();
                if (saved.Length > 0)
                {
                    // Replacing a token an operator put there would lock out whoever uses it, silently: refuse instead.
                    // An empty file is what a start that died while writing it leaves; nobody can be using it.
                    return UsableProblem(saved) is { } problem
                        ? throw new InvalidOperationException($"Gateway:Admin:Token is not set and the admin token file '{path}' does not hold a usable token: it {problem}. Put the token back, delete the file to have a new one generated, or set Gateway:Admin:Token.")
                        : LoadedFrom(path, saved, logger);
                }
            }

            // Removed rather than rewritten: the new file is this process's own, created 0600, whoever made the old one.
            File.Delete(path);
        }

        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        var token = "adm_" + Keys.Base62.Random(40);
        var streamOptions = new FileStreamOptions { Mode = FileMode.Create, Access = FileAccess.Write };
        if (!OperatingSystem.IsWindows())
        {
            streamOptions.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        }

        using (var stream = new FileStream(path, streamOptions))
        using (var writer = new StreamWriter(stream))
        {
            writer.Write(token);
        }

        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        }

        Log.TokenGenerated(logger, path);
        return token;
    }

    private static string LoadedFrom(string path, string token, ILogger logger)
    {
        Log.TokenLoaded(logger, path);
        return token;
    }

    /// <summary>
    /// Why a saved token cannot be the admin token (never quoting it), or null. Not the setting's placeholder and
    /// entropy rules: a generated token is random, and one in a few hundred contains "xxx" or "todo" by chance.
    /// </summary>
    private static string? UsableProblem(string token) =>
        token.Any(c => c is <= ' ' or > '~') ? "is not visible ASCII without spaces (a Bearer token could never match it)"
        : token.Length < MinSavedLength ? $"is shorter than {MinSavedLength} characters (got {token.Length})"
        : null;

    private const int MinSavedLength = 16;

    private const UnixFileMode OpenToOthers = UnixFileMode.GroupRead | UnixFileMode.GroupWrite | UnixFileMode.GroupExecute
        | UnixFileMode.OtherRead | UnixFileMode.OtherWrite | UnixFileMode.OtherExecute;

    private static partial class Log
    {
        [LoggerMessage(EventId = EventIds.AdminTokenFileNotPrivate, Level = LogLevel.Warning, Message = "Gateway:Admin:Token is not set and the saved token in {Path} was readable or writable by other users; it was replaced by a new one (mode 0600).")]
        public static partial void TokenFileNotPrivate(ILogger logger, string path);

        [LoggerMessage(EventId = EventIds.AdminTokenGenerated, Level = LogLevel.Warning, Message = "Gateway:Admin:Token is not set; generated an admin token and saved it to {Path} (mode 0600).")]
        public static partial void TokenGenerated(ILogger logger, string path);

        [LoggerMessage(EventId = EventIds.AdminTokenLoaded, Level = LogLevel.Information, Message = "Gateway:Admin:Token is not set; using the admin token saved in {Path}.")]
        public static partial void TokenLoaded(ILogger logger, string path);
    }
}
