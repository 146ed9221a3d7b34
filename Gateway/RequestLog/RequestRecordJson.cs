using System.Text.Encodings.Web;
using System.Text.Json;

namespace Gateway.RequestLog;

/// <summary>
/// A request record as both stores keep it: a JSON array of its fields by position, without the organization (the
/// store files a record under it). SQLite keeps an array of these per row, Redis one per stream entry. Positions
/// are the stored format: append only, and a reader must accept what earlier versions wrote.
/// </summary>
internal static class RequestRecordJson
{
    // Request ids, keys and paths go in as they are (the default encoder would escape '+', '<', '&' and
    // non-ASCII), so a request id is found in the stored text as its quoted self.
    public static readonly JsonWriterOptions WriterOptions = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping, SkipValidation = true };

    public static void Write(Utf8JsonWriter json, RequestRecord r)
    {
        json.WriteStartArray();
        json.WriteNumberValue(r.Time.ToUnixTimeMilliseconds());
        json.WriteStringValue(r.RequestId);
        StringOrNull(json, r.KeyId);
        StringOrNull(json, r.CustomerId);
        json.WriteStringValue(r.Method);
        json.WriteStringValue(r.Path);
        StringOrNull(json, r.Route);
        json.WriteNumberValue(r.Status);
        StringOrNull(json, r.Code);
        json.WriteNumberValue(r.DurationMs);
        StringOrNull(json, r.ClientIp);
        if (r.UpstreamStatus is { } upstream)
        {
            json.WriteNumberValue(upstream);
        }
        else
        {
            json.WriteNullValue();
        }

        json.WriteEndArray();
    }

    /// <summary>Reads one record whose opening bracket <paramref name="json"/> is on, and leaves it on the closing one.</summary>
    public static RequestRecord Read(ref Utf8JsonReader json, string? org)
    {
        json.Read();
        var at = json.GetInt64();
        var requestId = NextString(ref json)!;
        var keyId = NextString(ref json);
        var customerId = NextString(ref json);
        var method = NextString(ref json)!;
        var path = NextString(ref json)!;
        var route = NextString(ref json);
        json.Read();
        var status = json.GetInt32();
        var code = NextString(ref json);
        json.Read();
        var duration = json.GetDouble();
        var clientIp = NextString(ref json);
        json.Read();
        int? upstream = json.TokenType == JsonTokenType.Null ? null : json.GetInt32();
        json.Read(); // ]
        return new RequestRecord(DateTimeOffset.FromUnixTimeMilliseconds(at), requestId, org, keyId, customerId, method, path, route, status, code, duration, clientIp, upstream);
    }

    private static void StringOrNull(Utf8JsonWriter json, string? value)
    {
        if (value is null)
        {
            json.WriteNullValue();
        }
        else
        {
            json.WriteStringValue(value);
        }
    }

    private static string? NextString(ref Utf8JsonReader json)
    {
        json.Read();
        return json.TokenType == JsonTokenType.Null ? null : json.GetString();
    }
}
