using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace Gateway.Admin;

/// <summary>Every problem found in one admin request body, by field, so a caller fixes them all at once.</summary>
internal sealed class ValidationErrors
{
    private readonly Dictionary<string, List<string>> _errors = new(StringComparer.Ordinal);

    public bool Any => _errors.Count > 0;

    public IReadOnlyDictionary<string, List<string>> All => _errors;

    public void Add(string field, string message)
    {
        if (!_errors.TryGetValue(field, out var list))
        {
            _errors[field] = list = [];
        }

        list.Add(message);
    }

    /// <summary>Adds a nested object's errors under its path (<c>credits.refill.</c>), so each names its field in full.</summary>
    public void AddNested(string prefix, ValidationErrors nested)
    {
        foreach (var (field, messages) in nested._errors)
        {
            foreach (var message in messages)
            {
                Add(prefix + field, message);
            }
        }
    }

    public string Summary()
    {
        var (field, messages) = _errors.First();
        return $"{field}: {messages[0]}";
    }
}

/// <summary>Reads typed members out of a JSON object, recording a field-named error for each wrong one.</summary>
internal static partial class JsonFields
{
    public const int MaxBodyBytes = 64 * 1024;

    // Duplicate members are refused: with "last one wins" a body could pass a reviewer showing the first.
    public static readonly JsonDocumentOptions DocumentOptions = new() { MaxDepth = 8, AllowTrailingCommas = false, CommentHandling = JsonCommentHandling.Disallow, AllowDuplicateProperties = false };

    [GeneratedRegex("^[A-Za-z0-9_]{1,64}$")]
    public static partial Regex KeyName();

    [GeneratedRegex("^[A-Za-z0-9_-]{1,64}$")]
    public static partial Regex OrgId();

    [GeneratedRegex("^[A-Za-z0-9_.:@-]{1,128}$")]
    public static partial Regex CustomerId();

    public static void RejectUnknown(JsonElement body, ValidationErrors errors, params string[] known)
    {
        foreach (var property in body.EnumerateObject())
        {
            string name;
            try
            {
                name = property.Name;
            }
            catch (InvalidOperationException)
            {
                // A member name with an escaped lone surrogate cannot be decoded to text.
                errors.Add("body", "A member name is not valid text.");
                continue;
            }

            if (Array.IndexOf(known, name) >= 0)
            {
                continue;
            }

            // Echo an unknown name back only when it is plain text; anything else is reported on the body.
            if (name.Length > 64 || HasControlCharacters(name))
            {
                errors.Add("body", "A member name is not valid text or is longer than 64 characters.");
            }
            else
            {
                errors.Add(name, $"Unknown field. Allowed fields: {string.Join(", ", known)}.");
            }
        }
    }

    /// <summary>A string member: absent → (false, null); JSON null → (true, null) when allowed.</summary>
    /// <summary>A required <c>"day"</c> or <c>"month"</c>, with one error when it is missing, not a string, or neither.</summary>
    public static Domain.QuotaPeriod? Period(JsonElement body, string field, ValidationErrors errors)
    {
        if (!body.TryGetProperty(field, out _))
        {
            errors.Add(field, "Required.");
            return null;
        }

        var (_, text) = String(body, field, errors, maxLength: 16);
        if (text is null)
        {
            return null;
        }

        if (!Domain.QuotaPeriods.TryParse(text, out var period))
        {
            errors.Add(field, "Must be day or month.");
            return null;
        }

        return period;
    }

    public static (bool Present, string? Value) String(JsonElement body, string field, ValidationErrors errors, bool allowNull = false, int maxLength = 256)
    {
        if (!body.TryGetProperty(field, out var value))
        {
            return (false, null);
        }

        if (value.ValueKind == JsonValueKind.Null && allowNull)
        {
            return (true, null);
        }

        if (value.ValueKind != JsonValueKind.String)
        {
            errors.Add(field, allowNull ? "Must be a string or null." : "Must be a string.");
            return (true, null);
        }

        if (!TryGetString(value, out var text) || HasControlCharacters(text))
        {
            errors.Add(field, "Must be valid text without control characters.");
            return (true, null);
        }

        if (text.Length > maxLength)
        {
            errors.Add(field, $"Must be at most {maxLength} characters.");
            return (true, null);
        }

        return (true, text);
    }

    [GeneratedRegex(@"^\d{4}-\d{2}-\d{2}(?:[Tt]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,7})?)?(?:[Zz]|[+-]\d{2}:?\d{2})?)?$")]
    private static partial Regex IsoTimeText();

    /// <summary>
    /// An ISO 8601 date (midnight UTC) or date and time (UTC unless it names an offset), and nothing else: the lenient
    /// parser also read <c>1.5</c> as a date in January and <c>12/06/2026</c> the American way.
    /// </summary>
    public static bool TryParseIsoTime(string? text, out DateTimeOffset value)
    {
        value = default;
        return text is { Length: <= 40 } && IsoTimeText().IsMatch(text)
            && DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out value);
    }

    /// <summary>The query parameter <paramref name="name"/> as one ISO 8601 time (UTC); null, with an error when it was given.</summary>
    public static DateTimeOffset? QueryTime(IQueryCollection query, string name, ValidationErrors errors)
    {
        if (!query.TryGetValue(name, out var value))
        {
            return null;
        }

        if (value.Count == 1 && TryParseIsoTime(value.ToString(), out var at))
        {
            return at;
        }

        errors.Add(name, "Must be one ISO 8601 time, e.g. 2025-01-31T00:00:00Z.");
        return null;
    }

    public static (bool Present, DateTimeOffset? Value) Timestamp(JsonElement body, string field, ValidationErrors errors)
    {
        var (present, text) = String(body, field, errors, allowNull: true, maxLength: 64);
        if (!present || text is null)
        {
            return (present, null);
        }

        if (!TryParseIsoTime(text, out var parsed))
        {
            errors.Add(field, "Must be an ISO 8601 timestamp, e.g. 2030-01-31T12:00:00Z.");
            return (true, null);
        }

        return (true, parsed);
    }

    public static (bool Present, TimeSpan? Value) Duration(JsonElement body, string field, ValidationErrors errors, bool allowNull = false)
    {
        var (present, text) = String(body, field, errors, allowNull, maxLength: 32);
        if (!present || text is null)
        {
            return (present, null);
        }

        if (!TimeSpan.TryParseExact(text, "c", CultureInfo.InvariantCulture, out var parsed))
        {
            errors.Add(field, "Must be a duration like 00:10:00 (or 1.00:00:00 for a day).");
            return (true, null);
        }

        return (true, parsed);
    }

    public static (bool Present, List<string>? Value) StringArray(JsonElement body, string field, ValidationErrors errors, int maxItems = 64)
    {
        if (!body.TryGetProperty(field, out var value))
        {
            return (false, null);
        }

        if (value.ValueKind != JsonValueKind.Array)
        {
            errors.Add(field, "Must be an array of strings.");
            return (true, null);
        }

        var result = new List<string>();
        var index = 0;
        foreach (var item in value.EnumerateArray())
        {
            if (item.ValueKind != JsonValueKind.String)
            {
                errors.Add($"{field}[{index}]", "Must be a string.");
                return (true, null);
            }

            if (!TryGetString(item, out var text) || HasControlCharacters(text) || text.Length > 64)
            {
                errors.Add($"{field}[{index}]", "Must be valid text of at most 64 characters.");
                return (true, null);
            }

            result.Add(text);
            index++;
        }

        if (result.Count > maxItems)
        {
            errors.Add(field, $"Must have at most {maxItems} items.");
            return (true, null);
        }

        return (true, result);
    }

    /// <summary>Escaped lone surrogates are valid JSON but not valid text; treat them as a bad value, not a crash.</summary>
    private static bool TryGetString(JsonElement element, out string text)
    {
        try
        {
            text = element.GetString()!;
            return true;
        }
        catch (InvalidOperationException)
        {
            text = "";
            return false;
        }
    }

    private static bool HasControlCharacters(string text)
    {
        for (var i = 0; i < text.Length; i++)
        {
            var c = text[i];
            if (char.IsControl(c) || char.IsLowSurrogate(c))
            {
                return true;
            }

            if (char.IsHighSurrogate(c))
            {
                if (i + 1 >= text.Length || !char.IsLowSurrogate(text[i + 1]))
                {
                    return true;
                }

                i++;
            }
        }

        return false;
    }
}
