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
        if (File.Exists(path))
        {
            var saved = File.ReadAllText(path).Trim();
            if (saved.Length >= 16)
            {
                Log.TokenLoaded(logger, path);
                return saved;
            }
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

    private static partial class Log
    {
        [LoggerMessage(EventId = EventIds.AdminTokenGenerated, Level = LogLevel.Warning, Message = "Gateway:Admin:Token is not set; generated an admin token and saved it to {Path} (mode 0600).")]
        public static partial void TokenGenerated(ILogger logger, string path);

        [LoggerMessage(EventId = EventIds.AdminTokenLoaded, Level = LogLevel.Information, Message = "Gateway:Admin:Token is not set; using the admin token saved in {Path}.")]
        public static partial void TokenLoaded(ILogger logger, string path);
    }
}
