using Gateway.Configuration;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace Gateway.Stores.Redis;

/// <summary>Checks <c>Store:Redis</c> at start, next to the other settings (their failures are reported together).</summary>
internal sealed class RedisConnectionStringValidator : IValidateOptions<GatewayOptions>
{
    public ValidateOptionsResult Validate(string? name, GatewayOptions options) =>
        !string.IsNullOrWhiteSpace(options.Store.Redis) && Error(options.Store.Redis) is { } error
            ? ValidateOptionsResult.Fail($"{GatewayOptions.SectionName}:Store:Redis {error}")
            : ValidateOptionsResult.Success;

    /// <summary>
    /// What is wrong with a StackExchange.Redis connection string, or null. The client reads any text as host names (a
    /// <c>redis://</c> URL becomes a host of that name on port 6379), and the gateway then ran without ever being ready.
    /// </summary>
    internal static string? Error(string configuration)
    {
        ConfigurationOptions parsed;
        try
        {
            parsed = ConfigurationOptions.Parse(configuration);
        }
        catch (Exception ex) when (ex is ArgumentException or FormatException)
        {
            return $"is not a StackExchange.Redis connection string ({ex.Message.Split(" (Parameter", StringSplitOptions.None)[0]}): write host:port[,host:port...][,password=...][,serviceName=...].";
        }

        if (parsed.EndPoints.Count == 0)
        {
            // The client drops a server it cannot read (a port that is not a number) without a word.
            var unread = configuration.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).FirstOrDefault(part => !part.Contains('='));
            return unread is null
                ? "names no server: write host:port[,host:port...][,password=...][,serviceName=...]."
                : $"names '{unread}', which is not host:port with a port from 1 to 65535.";
        }

        foreach (var endPoint in parsed.EndPoints)
        {
            if (endPoint is System.Net.DnsEndPoint dns && Uri.CheckHostName(dns.Host) == UriHostNameType.Unknown)
            {
                return configuration.Contains("://", StringComparison.Ordinal)
                    ? $"is a URL, not a StackExchange.Redis connection string: write host:port[,password=...] (got '{dns.Host}' as a host name)."
                    : $"names '{dns.Host}', which is not a host name or address: write host:port[,host:port...][,password=...][,serviceName=...].";
            }
        }

        return null;
    }
}
