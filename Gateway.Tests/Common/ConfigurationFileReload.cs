using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Configuration.Json;

namespace Gateway.Tests.Common;

public static class ConfigurationFileReload
{
    /// <summary>
    /// Reloads one JSON file source of a host's configuration: one change event, as the file watcher raises for an edit
    /// of appsettings.json. <see cref="IConfigurationRoot.Reload"/> raises one per file source and one of its own, and
    /// the listeners run in the reverse order on each, so every section would get a second look after the others.
    /// </summary>
    /// <param name="file">The full path the source was added with (<c>AddJsonFile(file, ...)</c>).</param>
    public static void ReloadFile(this IConfigurationRoot configuration, string file) =>
        configuration.Providers.OfType<JsonConfigurationProvider>()
            .Single(p => p.Source.FileProvider?.GetFileInfo(p.Source.Path!).PhysicalPath == file)
            .Load();
}
