using Gateway.Hosting;

namespace Gateway.Cli;

/// <summary>
/// The settings a running gateway started from the same directory and environment would see, for the
/// commands that act on the local instance (healthcheck, backup, restore) without starting a host.
/// </summary>
internal static class CliConfiguration
{
    public static IConfiguration Load()
    {
        var environment = Environment.GetEnvironmentVariable("ASPNETCORE_ENVIRONMENT")
            ?? Environment.GetEnvironmentVariable("DOTNET_ENVIRONMENT")
            ?? "Production";
        return new ConfigurationBuilder()
            .AddInMemoryCollection(GatewayHostingExtensions.Defaults)
            .SetBasePath(GatewayHostingExtensions.SettingsDirectory())
            .AddJsonFile("appsettings.json", optional: true)
            .AddJsonFile($"appsettings.{environment}.json", optional: true)
            .AddEnvironmentVariables()
            .Build();
    }

    /// <summary>
    /// A URL a local client can call for a Kestrel endpoint URL: wildcard hosts (<c>0.0.0.0</c>,
    /// <c>[::]</c>, <c>*</c>, <c>+</c>) become loopback.
    /// </summary>
    public static Uri LocalUrl(string endpointUrl, string path)
    {
        var normalized = endpointUrl.Replace("://*", "://127.0.0.1", StringComparison.Ordinal)
            .Replace("://+", "://127.0.0.1", StringComparison.Ordinal);
        var builder = new UriBuilder(normalized);
        builder.Host = builder.Host switch
        {
            "0.0.0.0" => "127.0.0.1",
            "[::]" or "::" => "[::1]",
            _ => builder.Host,
        };
        builder.Path = path;
        return builder.Uri;
    }
}
