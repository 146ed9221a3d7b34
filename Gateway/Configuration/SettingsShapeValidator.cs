using Microsoft.Extensions.Options;

namespace Gateway.Configuration;

/// <summary>
/// The <c>Gateway</c> section's shapes (<see cref="SettingsShape"/>) and the listener URLs, which Kestrel would refuse
/// only with a stack trace (a URL it cannot read), read with a port nobody set (<c>http://127.0.0.1</c> bound port 80),
/// or refuse with a message naming no setting (a path: "use UsePathBase").
/// </summary>
internal sealed class SettingsShapeValidator(IConfiguration configuration) : IValidateOptions<GatewayOptions>
{
    public ValidateOptionsResult Validate(string? name, GatewayOptions options)
    {
        var errors = new List<string>();
        SettingsShape.Check(configuration.GetSection(GatewayOptions.SectionName), typeof(GatewayOptions), errors);
        foreach (var endpoint in configuration.GetSection("Kestrel:Endpoints").GetChildren())
        {
            if (endpoint["Url"] is { } url && UrlError(url) is { } error)
            {
                errors.Add($"Kestrel:Endpoints:{endpoint.Key}:Url {error} (got '{url}').");
            }
        }

        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }

    /// <summary>What is wrong with a listener URL as Kestrel reads it, or null.</summary>
    internal static string? UrlError(string url)
    {
        BindingAddress address;
        try
        {
            address = BindingAddress.Parse(url);
        }
        catch (FormatException)
        {
            return "must be an http:// or https:// URL with a host and a port, e.g. http://127.0.0.1:8081";
        }

        if (address.IsNamedPipe || address.IsUnixPipe)
        {
            return null;
        }

        if (address.Scheme is not ("http" or "https"))
        {
            return "must start with http:// or https://";
        }

        if (address.Port is < 0 or > 65535 || !HasExplicitPort(url))
        {
            // Kestrel reads a URL without a port as port 80 (or 443): a listener nobody asked for.
            return "must have a port from 0 to 65535";
        }

        return string.IsNullOrEmpty(address.PathBase) ? null : "must not have a path: a listener takes the whole URL space";
    }

    /// <summary>Whether the authority (between <c>://</c> and the first <c>/</c>) ends in <c>:port</c>, past an IPv6 literal's brackets.</summary>
    private static bool HasExplicitPort(string url)
    {
        var start = url.IndexOf("://", StringComparison.Ordinal) + 3;
        var end = url.IndexOf('/', start);
        var authority = end < 0 ? url[start..] : url[start..end];
        var colon = authority.LastIndexOf(':');
        return colon > authority.LastIndexOf(']') && colon < authority.Length - 1;
    }
}
