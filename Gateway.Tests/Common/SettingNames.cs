using System.Collections;
using System.Reflection;
using Gateway.Configuration;
using Gateway.Http;

namespace Gateway.Tests.Common;

/// <summary>
/// Whether an environment variable name (ASP.NET Core form, <c>__</c> for <c>:</c>) is a setting the
/// gateway reads, decided from the options classes and the listener names in code, not from a copied list.
/// </summary>
public static class SettingNames
{
    private static readonly string[] KestrelEndpointSettings = ["Url", "Protocols", "Certificate", "SslProtocols", "ClientCertificateMode", "Sni"];

    public static bool IsKnown(string environmentName)
    {
        var parts = environmentName.Split("__");
        switch (parts[0])
        {
            // Sections a feature binds itself, inside the Gateway section.
            case GatewayOptions.SectionName when parts.Length >= 2 && parts[1] == "Signing":
                return Walk(typeof(Gateway.Signing.SigningOptions), parts.Skip(2).ToArray());
            case GatewayOptions.SectionName when parts.Length >= 2 && parts[1] == "SecretScanning":
                return Walk(typeof(Gateway.SecretScanning.SecretScanningOptions), parts.Skip(2).ToArray());
            case GatewayOptions.SectionName:
                return Walk(typeof(GatewayOptions), parts.Skip(1).ToArray());
            case "Kestrel":
                return parts.Length >= 4
                    && parts[1] == "Endpoints"
                    && (parts[2] == Listeners.ProxyName || parts[2] == Listeners.AdminName)
                    && KestrelEndpointSettings.Contains(parts[3], StringComparer.Ordinal);
            case "ReverseProxy":
                return parts.Length >= 3 && (parts[1] == "Routes" || parts[1] == "Clusters");
            case "Logging":
                return true;
            default:
                // Runtime knobs of .NET and ASP.NET Core themselves.
                return environmentName.StartsWith("DOTNET_", StringComparison.Ordinal) || environmentName.StartsWith("ASPNETCORE_", StringComparison.Ordinal);
        }
    }

    private static bool Walk(Type type, string[] path)
    {
        foreach (var (segment, index) in path.Select((s, i) => (s, i)))
        {
            if (type != typeof(string) && typeof(IEnumerable).IsAssignableFrom(type))
            {
                // A list index or dictionary key: anything below it belongs to the element type.
                return true;
            }

            var property = type.GetProperty(segment, BindingFlags.Public | BindingFlags.Instance | BindingFlags.IgnoreCase);
            if (property is null)
            {
                return false;
            }

            type = property.PropertyType;
            if (index == path.Length - 1)
            {
                return true;
            }
        }

        return path.Length == 0;
    }
}
