using System.Collections;
using System.Reflection;
using Microsoft.Extensions.Options;

namespace Gateway.Configuration;

/// <summary>
/// Settings whose shape the configuration binder would silently drop or a listener would only refuse with a stack
/// trace: a list given as one value (<c>Gateway__StripHeaders=X-Internal</c> instead of <c>Gateway__StripHeaders__0</c>)
/// leaves the list empty and the gateway running without it, and a listener URL Kestrel cannot read stopped the start
/// with an unhandled exception. An entry of a dictionary setting (<c>Plans</c>, <c>RateLimits:Policies</c>) holding a
/// value the binder cannot convert (<c>"Limit": "abc"</c>) is dropped by the binder without a word, where the same value
/// in any other setting stops the start: the plan vanished and its customers went unlimited, at start and on reload.
/// </summary>
internal sealed class SettingsShapeValidator(IConfiguration configuration) : IValidateOptions<GatewayOptions>
{
    public ValidateOptionsResult Validate(string? name, GatewayOptions options)
    {
        var errors = new List<string>();
        Walk(configuration.GetSection(GatewayOptions.SectionName), typeof(GatewayOptions), errors);
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

        return address.Port is < 0 or > 65535 ? "must have a port from 0 to 65535" : null;
    }

    private static void Walk(IConfigurationSection section, Type type, List<string> errors)
    {
        foreach (var property in type.GetProperties(BindingFlags.Public | BindingFlags.Instance))
        {
            var child = section.GetSection(property.Name);
            var propertyType = property.PropertyType;
            if (propertyType == typeof(string) || propertyType.IsValueType)
            {
                continue;
            }

            if (typeof(IDictionary).IsAssignableFrom(propertyType))
            {
                EntriesTheBinderWouldDrop(child, propertyType, errors);
                continue;
            }

            if (typeof(IEnumerable).IsAssignableFrom(propertyType))
            {
                if (!string.IsNullOrEmpty(child.Value))
                {
                    errors.Add($"{child.Path} is a list: give each entry its own index ({child.Path.Replace(":", "__", StringComparison.Ordinal)}__0, __1, ... in environment variables; a JSON array in appsettings.json), not one value (got '{child.Value}').");
                }
            }
            else if (propertyType.IsClass && property.CanWrite)
            {
                Walk(child, propertyType, errors);
            }
        }
    }

    /// <summary>
    /// Binds each entry on its own, as the binder binds a setting outside a dictionary, so a value it cannot convert
    /// fails with the binder's message (which names the setting and the value) instead of dropping the entry.
    /// </summary>
    private static void EntriesTheBinderWouldDrop(IConfigurationSection section, Type dictionaryType, List<string> errors)
    {
        if (!dictionaryType.IsGenericType || dictionaryType.GetGenericArguments() is not [_, var valueType] || valueType == typeof(string))
        {
            return;
        }

        foreach (var entry in section.GetChildren())
        {
            try
            {
                entry.Get(valueType);
            }
            catch (InvalidOperationException ex)
            {
                errors.Add(ex.Message);
            }
        }
    }
}
