using Microsoft.Extensions.Primitives;

namespace Gateway.Http;

internal enum BearerParseResult
{
    Ok,
    Missing,
    Malformed,
}

/// <summary>
/// Strict RFC 6750 section 2.1 parsing: exactly one <c>Authorization</c> header, scheme <c>Bearer</c> in
/// any case, one space, then a token with no whitespace. Anything looser would let two clients that mean
/// different things present "the same" credential.
/// </summary>
internal static class BearerToken
{
    private const string Scheme = "Bearer";

    public static BearerParseResult TryParse(StringValues headers, out ReadOnlySpan<char> token)
    {
        token = default;
        if (headers.Count == 0 || (headers.Count == 1 && string.IsNullOrEmpty(headers[0])))
        {
            return BearerParseResult.Missing;
        }

        if (headers.Count > 1)
        {
            return BearerParseResult.Malformed;
        }

        var value = headers[0].AsSpan();
        if (value.Length <= Scheme.Length + 1
            || !value[..Scheme.Length].Equals(Scheme, StringComparison.OrdinalIgnoreCase)
            || value[Scheme.Length] != ' ')
        {
            return BearerParseResult.Malformed;
        }

        var candidate = value[(Scheme.Length + 1)..];
        foreach (var c in candidate)
        {
            if (c is <= ' ' or > '~')
            {
                return BearerParseResult.Malformed;
            }
        }

        token = candidate;
        return BearerParseResult.Ok;
    }
}
