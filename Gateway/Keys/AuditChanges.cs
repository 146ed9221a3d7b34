using System.Buffers;
using System.Globalization;
using System.Text;
using System.Text.Json;
using Gateway.Domain;

namespace Gateway.Keys;

/// <summary>
/// Builds an audit entry's <c>{"field":{"before":…,"after":…}}</c> object. Only key settings go in;
/// hashes and plaintext never do.
/// </summary>
internal sealed class AuditChanges
{
    private readonly List<(string Field, object? Before, object? After)> _changes = [];

    public bool IsEmpty => _changes.Count == 0;

    public AuditChanges Add(string field, object? before, object? after)
    {
        if (!Equals(Normalize(before), Normalize(after)))
        {
            _changes.Add((field, before, after));
        }

        return this;
    }

    public static string Snapshot(ApiKeyRecord key)
    {
        var changes = new AuditChanges();
        foreach (var (field, value) in Fields(key))
        {
            changes._changes.Add((field, null, value));
        }

        return changes.ToJson()!;
    }

    public static AuditChanges Diff(ApiKeyRecord before, ApiKeyRecord after)
    {
        var changes = new AuditChanges();
        var old = Fields(before).ToDictionary(f => f.Field, f => f.Value);
        foreach (var (field, value) in Fields(after))
        {
            changes.Add(field, old[field], value);
        }

        return changes;
    }

    public string? ToJson()
    {
        if (_changes.Count == 0)
        {
            return null;
        }

        var buffer = new ArrayBufferWriter<byte>();
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            foreach (var (field, before, after) in _changes)
            {
                json.WriteStartObject(field);
                json.WritePropertyName("before");
                WriteValue(json, before);
                json.WritePropertyName("after");
                WriteValue(json, after);
                json.WriteEndObject();
            }

            json.WriteEndObject();
        }

        return Encoding.UTF8.GetString(buffer.WrittenSpan);
    }

    private static IEnumerable<(string Field, object? Value)> Fields(ApiKeyRecord key)
    {
        yield return ("name", key.Name);
        yield return ("prefix", key.Prefix);
        yield return ("environment", key.Environment);
        yield return ("scopes", key.Scopes);
        yield return ("status", key.State.ToString().ToLowerInvariant());
        yield return ("description", key.Description);
        yield return ("expiresAt", key.ExpiresAt);
        yield return ("customerId", key.CustomerId);
        yield return ("rateLimit", key.RateLimit);
        yield return ("credits", Credits(key.Credits));
        yield return ("allowedCidrs", key.AllowedCidrs);
        yield return ("previousKeyExpiresAt", key.PreviousHash is null ? null : key.PreviousHashExpiresAt);
    }

    // The credits as set (not the live balance): remaining, refill, and when they were set, so setting the same
    // amount again is a change (it starts a fresh count).
    private static string? Credits(KeyCredits? credits) => credits is null
        ? null
        : string.Create(CultureInfo.InvariantCulture, $"remaining={credits.Remaining} refill={(credits.Refill is { } r ? $"{r.Amount}/{QuotaPeriods.Name(r.Period)}" : "none")} setAt={credits.SetAt:yyyy-MM-ddTHH:mm:ss.fffZ}");

    private static object? Normalize(object? value) => value switch
    {
        IReadOnlyList<string> list => string.Join(' ', list),
        _ => value,
    };

    private static void WriteValue(Utf8JsonWriter json, object? value)
    {
        switch (value)
        {
            case null:
                json.WriteNullValue();
                break;
            case string s:
                json.WriteStringValue(s);
                break;
            case DateTimeOffset t:
                json.WriteStringValue(t.UtcDateTime.ToString("yyyy-MM-ddTHH:mm:ss.fffZ", CultureInfo.InvariantCulture));
                break;
            case IReadOnlyList<string> list:
                json.WriteStartArray();
                foreach (var item in list)
                {
                    json.WriteStringValue(item);
                }

                json.WriteEndArray();
                break;
            case bool flag:
                json.WriteBooleanValue(flag);
                break;
            case long number:
                json.WriteNumberValue(number);
                break;
            case KeyRateLimit limit:
                json.WriteStartObject();
                json.WriteNumber("permitLimit", limit.PermitLimit);
                json.WriteString("window", limit.Window.ToString("c", CultureInfo.InvariantCulture));
                json.WriteEndObject();
                break;
            default:
                json.WriteStringValue(Convert.ToString(value, CultureInfo.InvariantCulture));
                break;
        }
    }
}
