using System.Collections;
using System.ComponentModel;
using System.Globalization;
using System.Reflection;

namespace Gateway.Configuration;

/// <summary>
/// Settings in a shape the configuration binder drops without a word: a list given as one value
/// (<c>Gateway__StripHeaders=X-Internal</c> instead of <c>Gateway__StripHeaders__0</c>) or as an object
/// (<c>"Secrets": {"Id": …}</c> instead of an array), an entry that should be an object given as one value
/// (<c>Gateway__Signing__Secrets__0=abc</c>, <c>Gateway__Plans__pro=x</c>), a section given as one value. The binder
/// leaves such a list or entry out and the gateway ran without it: no plan, no signing secret, no stripped header.
/// An entry of a dictionary holding a value the binder cannot convert (<c>"Limit": "abc"</c>) is dropped the same way,
/// where the same value in any other setting stops the start.
/// </summary>
internal static class SettingsShape
{
    /// <summary>Adds a line naming the setting for each part of <paramref name="section"/> that would not bind to <paramref name="type"/>.</summary>
    public static void Check(IConfigurationSection section, Type type, List<string> errors)
    {
        foreach (var property in type.GetProperties(BindingFlags.Public | BindingFlags.Instance))
        {
            if (property.CanWrite && property.GetIndexParameters().Length == 0)
            {
                CheckValue(section.GetSection(property.Name), property.PropertyType, errors);
            }
        }
    }

    private static void CheckValue(IConfigurationSection setting, Type type, List<string> errors)
    {
        if (IsScalar(type))
        {
            if (setting.Value is null && setting.GetChildren().Any())
            {
                errors.Add($"{setting.Path} must be one value, not a section (got {Keys(setting)}).");
            }

            return;
        }

        if (!string.IsNullOrEmpty(setting.Value))
        {
            errors.Add(OneValueError(setting, type));
            return;
        }

        if (DictionaryValueType(type) is { } valueType)
        {
            foreach (var entry in setting.GetChildren())
            {
                if (!IsScalar(valueType) && !string.IsNullOrEmpty(entry.Value))
                {
                    errors.Add($"{entry.Path} must be an object with settings of its own, not one value (got '{entry.Value}').");
                    continue;
                }

                EntryTheBinderWouldDrop(entry, valueType, errors);
            }
        }
        else if (ListItemType(type) is { } itemType)
        {
            var entries = setting.GetChildren().ToList();
            if (entries.FirstOrDefault(e => !int.TryParse(e.Key, NumberStyles.None, CultureInfo.InvariantCulture, out _)) is { } named)
            {
                errors.Add($"{setting.Path} is a list: give a JSON array in appsettings.json ({Path(setting)}__0, __1, ... in environment variables), not an object (got the key '{named.Key}').");
                return;
            }

            foreach (var entry in entries)
            {
                if (!IsScalar(itemType) && !string.IsNullOrEmpty(entry.Value))
                {
                    errors.Add($"{entry.Path} must be an object{Members(itemType)}, not one value.");
                    continue;
                }

                CheckValue(entry, itemType, errors);
            }
        }
        else if (type.IsClass)
        {
            Check(setting, type, errors);
        }
    }

    /// <summary>
    /// Binds an entry on its own, as the binder binds a setting outside a dictionary, so a value it cannot convert fails
    /// with the binder's message (which names the setting and the value) instead of dropping the entry.
    /// </summary>
    private static void EntryTheBinderWouldDrop(IConfigurationSection entry, Type valueType, List<string> errors)
    {
        if (valueType == typeof(string))
        {
            return;
        }

        try
        {
            entry.Get(valueType);
        }
        catch (InvalidOperationException ex)
        {
            errors.Add(ex.Message);
            return;
        }

        if (!IsScalar(valueType))
        {
            Check(entry, valueType, errors);
        }
    }

    private static string OneValueError(IConfigurationSection setting, Type type)
    {
        if (DictionaryValueType(type) is not null)
        {
            return $"{setting.Path} is a set of named entries: give each its own key ({setting.Path}:name in appsettings.json, {Path(setting)}__name in environment variables), not one value (got '{setting.Value}').";
        }

        if (ListItemType(type) is not null)
        {
            return $"{setting.Path} is a list: give each entry its own index ({Path(setting)}__0, __1, ... in environment variables; a JSON array in appsettings.json), not one value (got '{setting.Value}').";
        }

        return $"{setting.Path} is a section of settings ({setting.Path}:...), not one value (got '{setting.Value}').";
    }

    /// <summary>What the binder sets from one value: strings, numbers, enums, TimeSpans, and types with a converter from a string (Uri).</summary>
    private static bool IsScalar(Type type) =>
        type == typeof(string) || type.IsValueType || TypeDescriptor.GetConverter(type).CanConvertFrom(typeof(string));

    private static Type? DictionaryValueType(Type type) =>
        typeof(IDictionary).IsAssignableFrom(type) && type.IsGenericType && type.GetGenericArguments() is [_, var value] ? value : null;

    private static Type? ListItemType(Type type)
    {
        if (type.IsArray)
        {
            return type.GetElementType();
        }

        return typeof(IEnumerable).IsAssignableFrom(type) && type.IsGenericType && type.GetGenericArguments() is [var item] ? item : null;
    }

    private static string Members(Type type)
    {
        var names = type.GetProperties(BindingFlags.Public | BindingFlags.Instance).Where(p => p.CanWrite).Select(p => p.Name).ToList();
        return names.Count == 0 ? "" : " with " + string.Join(" and ", names);
    }

    private static string Keys(IConfigurationSection section) => string.Join(", ", section.GetChildren().Select(c => $"'{c.Key}'"));

    private static string Path(IConfigurationSection section) => section.Path.Replace(":", "__", StringComparison.Ordinal);
}
