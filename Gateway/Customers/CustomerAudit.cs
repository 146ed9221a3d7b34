using System.Buffers;
using System.Globalization;
using System.Text;
using System.Text.Json;
using Gateway.Domain;
using Gateway.Keys;

namespace Gateway.Customers;

/// <summary>
/// Audit entries for customer changes (<c>customer.create</c>, <c>customer.update</c>, <c>customer.delete</c>), in the
/// organization's log beside key changes, with the same <c>{"field":{"before":…,"after":…}}</c> changes. Key id is
/// null; <c>customerId</c> is always in the changes (before and after alike on an update), so an entry names its customer.
/// </summary>
internal static class CustomerAudit
{
    public const string Create = "customer.create";
    public const string Update = "customer.update";
    public const string Delete = "customer.delete";

    /// <summary>The entry for <paramref name="before"/> becoming <paramref name="after"/> (null before: created; null after: deleted).</summary>
    public static AuditEntry Entry(Customer? before, Customer? after, string actor, DateTimeOffset at)
    {
        var customer = after ?? before ?? throw new ArgumentException("A change needs a customer on one side.");
        var action = before is null ? Create : after is null ? Delete : Update;
        return new AuditEntry(AuditIds.New(), customer.OrgId, null, action, actor, at, Changes(before, after), AuditCaller.Current);
    }

    /// <summary>The customer an entry of this log is about; null for an entry that is not a customer's.</summary>
    public static string? CustomerId(AuditEntry entry)
    {
        if (entry.KeyId is not null || entry.Changes is null || !entry.Action.StartsWith("customer.", StringComparison.Ordinal))
        {
            return null;
        }

        using var changes = JsonDocument.Parse(entry.Changes);
        return changes.RootElement.TryGetProperty("customerId", out var id)
            && (id.TryGetProperty("after", out var side) && side.ValueKind == JsonValueKind.String || id.TryGetProperty("before", out side) && side.ValueKind == JsonValueKind.String)
            ? side.GetString()
            : null;
    }

    /// <summary>Whether an update changes anything worth an entry.</summary>
    public static bool Changed(Customer before, Customer after) =>
        Fields(before).Zip(Fields(after)).Any(pair => pair.First.Value != pair.Second.Value);

    private static string Changes(Customer? before, Customer? after)
    {
        var buffer = new ArrayBufferWriter<byte>();
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            var old = before is null ? null : Fields(before).ToDictionary(f => f.Field, f => f.Value);
            var now = after is null ? null : Fields(after).ToDictionary(f => f.Field, f => f.Value);
            foreach (var (field, _) in Fields((after ?? before)!))
            {
                var b = old?[field];
                var a = now?[field];
                if (field != "customerId" && b == a)
                {
                    continue;
                }

                json.WriteStartObject(field);
                Write(json, "before", b);
                Write(json, "after", a);
                json.WriteEndObject();
            }

            json.WriteEndObject();
        }

        return Encoding.UTF8.GetString(buffer.WrittenSpan);
    }

    /// <summary>Each field as raw JSON (null for JSON null), so values compare as text and are written as they are.</summary>
    private static IEnumerable<(string Field, string? Value)> Fields(Customer c)
    {
        yield return ("customerId", JsonSerializer.Serialize(c.Id, CustomerAuditJsonContext.Default.String));
        yield return ("name", JsonSerializer.Serialize(c.Name, CustomerAuditJsonContext.Default.String));
        yield return ("plan", c.Plan is null ? null : JsonSerializer.Serialize(c.Plan, CustomerAuditJsonContext.Default.String));
        yield return ("rateLimit", c.RateLimit is { } r
            ? string.Create(CultureInfo.InvariantCulture, $$"""{"permitLimit":{{r.PermitLimit}},"window":"{{r.Window.ToString("c", CultureInfo.InvariantCulture)}}"}""")
            : null);
        yield return ("quota", c.Quota is { } q
            ? string.Create(CultureInfo.InvariantCulture, $$"""{"limit":{{q.Limit}},"period":"{{QuotaPeriods.Name(q.Period)}}"}""")
            : null);
    }

    private static void Write(Utf8JsonWriter json, string name, string? raw)
    {
        json.WritePropertyName(name);
        if (raw is null)
        {
            json.WriteNullValue();
        }
        else
        {
            json.WriteRawValue(raw, skipInputValidation: true);
        }
    }
}

[System.Text.Json.Serialization.JsonSerializable(typeof(string))]
internal sealed partial class CustomerAuditJsonContext : System.Text.Json.Serialization.JsonSerializerContext;
