using System.Text.Json;
using Gateway.Configuration;
using Gateway.Domain;
using Gateway.Keys;

namespace Gateway.Admin;

/// <summary>Turns admin request bodies into validated drafts, or into a 4xx naming every bad field.</summary>
internal static class AdminRequests
{
    private static readonly string[] OrgFields = ["id", "name"];
    private static readonly string[] CreateKeyFields = ["name", "environment", "scopes", "description", "expiresAt", "createdBy", "customerId", "rateLimit"];
    private static readonly string[] PatchKeyFields = ["name", "description", "scopes", "expiresAt", "customerId", "rateLimit"];
    private static readonly string[] RotateFields = ["gracePeriod"];

    /// <summary>
    /// Reads the body as a JSON object and runs <paramref name="parse"/> on it; any problem (size, syntax,
    /// shape or a field <paramref name="parse"/> rejects) comes back as the 4xx result to return.
    /// </summary>
    public static async Task<(T Value, IResult? Error)> ReadAsync<T>(HttpRequest request, bool allowEmpty, Func<JsonElement, ValidationErrors, T> parse)
    {
        var (document, error) = await ReadObjectAsync(request, allowEmpty);
        if (error is not null)
        {
            return (default!, error);
        }

        using (document)
        {
            var errors = new ValidationErrors();
            var value = parse(document!.RootElement, errors);
            return errors.Any ? (default!, AdminProblems.Validation(errors)) : (value, null);
        }
    }

    private static async Task<(JsonDocument? Document, IResult? Error)> ReadObjectAsync(HttpRequest request, bool allowEmpty)
    {
        var buffer = new MemoryStream();
        var chunk = new byte[8192];
        int read;
        while ((read = await request.Body.ReadAsync(chunk, request.HttpContext.RequestAborted)) > 0)
        {
            if (buffer.Length + read > JsonFields.MaxBodyBytes)
            {
                return (null, AdminProblems.TooLarge());
            }

            buffer.Write(chunk, 0, read);
        }

        if (buffer.Length == 0 || IsWhitespace(buffer))
        {
            return allowEmpty
                ? (JsonDocument.Parse("{}"), null)
                : (null, AdminProblems.Invalid("body", "A JSON object is required."));
        }

        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(buffer.GetBuffer().AsMemory(0, (int)buffer.Length), JsonFields.DocumentOptions);
        }
        catch (JsonException ex)
        {
            return (null, AdminProblems.Invalid("body", $"Malformed JSON or a duplicate member (line {ex.LineNumber + 1}, byte {ex.BytePositionInLine + 1})."));
        }
        catch (InvalidOperationException)
        {
            // The duplicate-member check decodes names; an undecodable one surfaces here.
            return (null, AdminProblems.Invalid("body", "A member name is not valid text."));
        }

        if (document.RootElement.ValueKind != JsonValueKind.Object)
        {
            document.Dispose();
            return (null, AdminProblems.Invalid("body", "Must be a JSON object."));
        }

        return (document, null);
    }

    public static (string Id, string Name)? Organization(JsonElement body, ValidationErrors errors)
    {
        JsonFields.RejectUnknown(body, errors, OrgFields);
        var (_, id) = JsonFields.String(body, "id", errors, maxLength: 64);
        var (namePresent, name) = JsonFields.String(body, "name", errors, maxLength: 200);
        if (id is null && !errors.All.ContainsKey("id"))
        {
            errors.Add("id", "Required.");
        }
        else if (id is not null && !JsonFields.OrgId().IsMatch(id))
        {
            errors.Add("id", "Must match ^[A-Za-z0-9_-]{1,64}$.");
        }

        if (namePresent && name is not null && string.IsNullOrWhiteSpace(name))
        {
            errors.Add("name", "Must not be blank.");
        }

        return errors.Any ? null : (id!, string.IsNullOrWhiteSpace(name) ? id! : name.Trim());
    }

    public static KeyDraft? CreateKey(JsonElement body, GatewayOptions options, DateTimeOffset now, ValidationErrors errors)
    {
        JsonFields.RejectUnknown(body, errors, CreateKeyFields);

        var name = Name(body, errors, required: true);
        var (_, environment) = JsonFields.String(body, "environment", errors, maxLength: 32);
        if (environment is not null && !KeyEnvironments.IsValid(environment))
        {
            errors.Add("environment", "Must be one of production, staging, development.");
        }

        var scopes = Scopes(body, options, errors);
        var (_, description) = JsonFields.String(body, "description", errors, allowNull: true, maxLength: 1000);
        var expiresAt = ExpiresAt(body, now, errors);
        var (_, createdBy) = JsonFields.String(body, "createdBy", errors, allowNull: true, maxLength: 128);
        var customerId = CustomerId(body, errors);
        var rateLimit = RateLimit(body, errors);

        return errors.Any
            ? null
            : new KeyDraft(name!, environment ?? options.Environment, scopes ?? ["*"], description, expiresAt.Value, createdBy, customerId.Value, rateLimit.Value);
    }

    public static KeyPatch? PatchKey(JsonElement body, GatewayOptions options, DateTimeOffset now, ValidationErrors errors)
    {
        if (body.TryGetProperty("environment", out _))
        {
            errors.Add("environment", "A key's environment cannot be changed; create a key for the other environment.");
        }

        JsonFields.RejectUnknown(body, errors, [.. PatchKeyFields, "environment"]);

        var name = Name(body, errors, required: false);
        var (hasDescription, description) = JsonFields.String(body, "description", errors, allowNull: true, maxLength: 1000);
        var scopes = Scopes(body, options, errors);
        var expiresAt = ExpiresAt(body, now, errors);
        var customerId = CustomerId(body, errors);
        var rateLimit = RateLimit(body, errors);

        return errors.Any
            ? null
            : new KeyPatch
            {
                Name = name,
                HasDescription = hasDescription,
                Description = description,
                Scopes = scopes,
                HasExpiresAt = expiresAt.Present,
                ExpiresAt = expiresAt.Value,
                HasCustomerId = customerId.Present,
                CustomerId = customerId.Value,
                HasRateLimit = rateLimit.Present,
                RateLimit = rateLimit.Value,
            };
    }

    public static TimeSpan? Rotate(JsonElement body, ValidationErrors errors)
    {
        JsonFields.RejectUnknown(body, errors, RotateFields);
        var (_, grace) = JsonFields.Duration(body, "gracePeriod", errors);
        if (grace is { } g && !KeyRules.IsValidGracePeriod(g))
        {
            errors.Add("gracePeriod", $"Must be {KeyRules.GracePeriodRange}.");
        }

        return errors.Any ? null : grace ?? TimeSpan.Zero;
    }

    private static string? Name(JsonElement body, ValidationErrors errors, bool required)
    {
        var (present, name) = JsonFields.String(body, "name", errors, maxLength: 64);
        if (!present && required)
        {
            errors.Add("name", "Required.");
        }
        else if (present && name is not null && !JsonFields.KeyName().IsMatch(name))
        {
            errors.Add("name", "Must match ^[A-Za-z0-9_]{1,64}$ (letters, digits and underscores).");
        }

        return name;
    }

    private static List<string>? Scopes(JsonElement body, GatewayOptions options, ValidationErrors errors)
    {
        var (_, scopes) = JsonFields.StringArray(body, "scopes", errors);
        if (scopes is null)
        {
            return null;
        }

        foreach (var scope in scopes)
        {
            if (!KeyRules.IsKnownScope(scope, options.Scopes))
            {
                errors.Add("scopes", $"Unknown scope '{scope}'. Known scopes: {KeyRules.AnyScope}, {string.Join(", ", options.Scopes)}.");
            }
        }

        return scopes.Distinct(StringComparer.Ordinal).ToList();
    }

    private static (bool Present, DateTimeOffset? Value) ExpiresAt(JsonElement body, DateTimeOffset now, ValidationErrors errors)
    {
        var (present, value) = JsonFields.Timestamp(body, "expiresAt", errors);
        if (!KeyRules.IsValidExpiry(value, now))
        {
            errors.Add("expiresAt", "Must be in the future.");
        }

        return (present, value is { } t ? KeyRules.ToStoredPrecision(t) : null);
    }

    private static (bool Present, string? Value) CustomerId(JsonElement body, ValidationErrors errors)
    {
        var (present, value) = JsonFields.String(body, "customerId", errors, allowNull: true, maxLength: 128);
        if (value is not null && !JsonFields.CustomerId().IsMatch(value))
        {
            errors.Add("customerId", "Must match ^[A-Za-z0-9_.:@-]{1,128}$.");
        }

        return (present, value);
    }

    private static (bool Present, KeyRateLimit? Value) RateLimit(JsonElement body, ValidationErrors errors)
    {
        if (!body.TryGetProperty("rateLimit", out var value))
        {
            return (false, null);
        }

        if (value.ValueKind == JsonValueKind.Null)
        {
            return (true, null);
        }

        if (value.ValueKind != JsonValueKind.Object)
        {
            errors.Add("rateLimit", "Must be an object {\"permitLimit\": 100, \"window\": \"00:01:00\"} or null.");
            return (true, null);
        }

        var nested = new ValidationErrors();
        JsonFields.RejectUnknown(value, nested, "permitLimit", "window");
        int? permits = null;
        if (!value.TryGetProperty("permitLimit", out var p))
        {
            nested.Add("permitLimit", "Required.");
        }
        else if (p.ValueKind != JsonValueKind.Number || !p.TryGetInt32(out var n) || n < 1 || n > 1_000_000)
        {
            nested.Add("permitLimit", "Must be an integer between 1 and 1000000.");
        }
        else
        {
            permits = n;
        }

        var (windowPresent, window) = JsonFields.Duration(value, "window", nested);
        if (!windowPresent)
        {
            nested.Add("window", "Required.");
        }
        else if (window is { } w && !KeyRules.IsValidWindow(w))
        {
            nested.Add("window", $"Must be {KeyRules.WindowRange}.");
        }

        foreach (var (field, messages) in nested.All)
        {
            foreach (var message in messages)
            {
                errors.Add($"rateLimit.{field}", message);
            }
        }

        return nested.Any ? (true, null) : (true, new KeyRateLimit(permits!.Value, window!.Value));
    }

    private static bool IsWhitespace(MemoryStream buffer)
    {
        foreach (var b in buffer.GetBuffer().AsSpan(0, (int)buffer.Length))
        {
            if (b is not ((byte)' ' or (byte)'\t' or (byte)'\r' or (byte)'\n'))
            {
                return false;
            }
        }

        return true;
    }
}
