using Gateway.Observability;
using Microsoft.Extensions.Configuration.Json;

namespace Gateway.Configuration;

/// <summary>
/// The JSON settings files (<c>appsettings.json</c> and its environment's), made to keep their last good content when
/// an edit does not parse (invalid JSON, a truncated or empty file). The stock provider emptied its values on such a
/// reload and threw where nothing logged it: the gateway ran on with what it had bound before, no one was told the
/// edit was not applied, and the next reload of anything read the emptied file (no routes, default limits). Now the
/// previous content stays, event 1011 says why, and the next good edit applies. At start a broken file still stops the
/// gateway. A file deleted on a running gateway still reads as empty, as the configuration system decides.
/// </summary>
internal sealed partial class SettingsFiles : IHostedService
{
    private ILogger? _logger;

    /// <summary>Replaces each JSON file source of <paramref name="configuration"/> with one that keeps its last good content.</summary>
    public static SettingsFiles KeepLastGood(IConfigurationBuilder configuration)
    {
        var files = new SettingsFiles();
        var sources = configuration.Sources;
        for (var i = 0; i < sources.Count; i++)
        {
            if (sources[i] is JsonConfigurationSource { Path: { } path } source and not LastGoodJsonConfigurationSource)
            {
                var previous = source.OnLoadException;
                sources[i] = new LastGoodJsonConfigurationSource
                {
                    FileProvider = source.FileProvider,
                    Path = path,
                    Optional = source.Optional,
                    ReloadOnChange = source.ReloadOnChange,
                    ReloadDelay = source.ReloadDelay,
                    OnLoadException = context =>
                    {
                        files.LoadFailed(context);
                        if (!context.Ignore)
                        {
                            previous?.Invoke(context);
                        }
                    },
                };
            }
        }

        return files;
    }

    /// <summary>Logs to <paramref name="loggers"/> from now on; the files are read before the container that has it exists.</summary>
    public SettingsFiles LogTo(ILoggerFactory loggers)
    {
        _logger = loggers.CreateLogger<SettingsFiles>();
        return this;
    }

    public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    private void LoadFailed(FileLoadExceptionContext context)
    {
        if (context.Provider is not LastGoodJsonConfigurationProvider provider || !provider.RestoreLastGood())
        {
            return; // The first load: a file that does not parse stops the start.
        }

        context.Ignore = true;
        if (_logger is { } logger)
        {
            var error = context.Exception.InnerException is { } inner ? $"{context.Exception.Message} {inner.Message}" : context.Exception.Message;
            Log.FileReloadFailed(logger, error);
        }
    }

    private sealed class LastGoodJsonConfigurationSource : JsonConfigurationSource
    {
        public override IConfigurationProvider Build(IConfigurationBuilder builder)
        {
            EnsureDefaults(builder);
            return new LastGoodJsonConfigurationProvider(this);
        }
    }

    private sealed class LastGoodJsonConfigurationProvider(JsonConfigurationSource source) : JsonConfigurationProvider(source)
    {
        private IDictionary<string, string?>? _lastGood;

        public override void Load(Stream stream)
        {
            base.Load(stream);
            _lastGood = Data;
        }

        /// <summary>Puts back what the last load that parsed read, which the failed reload has just emptied; false before any.</summary>
        public bool RestoreLastGood()
        {
            if (_lastGood is not { } lastGood)
            {
                return false;
            }

            Data = lastGood;
            return true;
        }
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = EventIds.SettingsFileReloadFailed, Level = LogLevel.Error, Message = "Ignored an edit of a settings file that does not load; the previous settings stay in force: {Error}")]
        public static partial void FileReloadFailed(ILogger logger, string error);
    }
}
