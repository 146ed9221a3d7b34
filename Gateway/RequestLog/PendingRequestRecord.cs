using System.Buffers;
using System.Buffers.Binary;

namespace Gateway.RequestLog;

/// <summary>
/// A <see cref="RequestRecord"/> as the request path hands it to <see cref="RequestLogWriter"/>: a value, not an object,
/// and a request id of 32 lower-case hex digits (the form the gateway generates) held as two words, not a string.
/// A record waits in the writer's buffer for up to <see cref="RequestLogWriter.GatherFor"/>, longer than the time
/// between gen0 collections under load, so anything it held on the heap was promoted and brought gen1 collections;
/// every other string it holds lives as long as a key, a route or a connection does.
/// </summary>
internal readonly struct PendingRequestRecord
{
    private const int HexIdLength = 32;
    private static readonly SearchValues<char> LowerHex = SearchValues.Create("0123456789abcdef");

    private readonly string? _requestId;
    private readonly ulong _idHigh;
    private readonly ulong _idLow;

    public PendingRequestRecord(
        DateTimeOffset time,
        string requestId,
        string? orgId,
        string? keyId,
        string? customerId,
        string method,
        string path,
        string? route,
        int status,
        string? code,
        double durationMs,
        string? clientIp,
        int? upstreamStatus)
    {
        if (!TryParseHexId(requestId, out _idHigh, out _idLow))
        {
            _requestId = requestId;
        }

        Time = time;
        OrgId = orgId;
        KeyId = keyId;
        CustomerId = customerId;
        Method = method;
        Path = path;
        Route = route;
        Status = status;
        Code = code;
        DurationMs = durationMs;
        ClientIp = clientIp;
        UpstreamStatus = upstreamStatus;
    }

    public DateTimeOffset Time { get; }

    public string? OrgId { get; }

    public string? KeyId { get; }

    public string? CustomerId { get; }

    public string Method { get; }

    public string Path { get; }

    public string? Route { get; }

    public int Status { get; }

    public string? Code { get; }

    public double DurationMs { get; }

    public string? ClientIp { get; }

    public int? UpstreamStatus { get; }

    public static PendingRequestRecord From(RequestRecord r) =>
        new(r.Time, r.RequestId, r.OrgId, r.KeyId, r.CustomerId, r.Method, r.Path, r.Route, r.Status, r.Code, r.DurationMs, r.ClientIp, r.UpstreamStatus);

    public RequestRecord ToRecord() =>
        new(Time, _requestId ?? HexId(_idHigh, _idLow), OrgId, KeyId, CustomerId, Method, Path, Route, Status, Code, DurationMs, ClientIp, UpstreamStatus);

    private static bool TryParseHexId(string id, out ulong high, out ulong low)
    {
        high = low = 0;
        if (id.Length != HexIdLength || id.AsSpan().IndexOfAnyExcept(LowerHex) >= 0)
        {
            return false;
        }

        // Lower-case only, so the id written back is the very string that was handed over.
        high = ulong.Parse(id.AsSpan(0, 16), System.Globalization.NumberStyles.AllowHexSpecifier, System.Globalization.CultureInfo.InvariantCulture);
        low = ulong.Parse(id.AsSpan(16), System.Globalization.NumberStyles.AllowHexSpecifier, System.Globalization.CultureInfo.InvariantCulture);
        return true;
    }

    private static string HexId(ulong high, ulong low)
    {
        Span<byte> bytes = stackalloc byte[16];
        BinaryPrimitives.WriteUInt64BigEndian(bytes, high);
        BinaryPrimitives.WriteUInt64BigEndian(bytes[8..], low);
        return Convert.ToHexStringLower(bytes);
    }
}
