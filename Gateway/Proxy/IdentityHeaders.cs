using System.Net.Http.Headers;
using Gateway.Domain;
using Gateway.Signing;

namespace Gateway.Proxy;

/// <summary>
/// The headers through which the gateway tells upstreams who is calling. Only the gateway may set
/// them: whatever a client sent under these names is removed before anything else runs.
/// </summary>
internal static class IdentityHeaders
{
    public const string OrgId = "X-Org-Id";
    public const string KeyId = "X-Key-Id";
    public const string KeyName = "X-Key-Name";
    public const string KeyScopes = "X-Key-Scopes";
    public const string KeyEnvironment = "X-Key-Environment";
    public const string CustomerId = "X-Customer-Id";

    private const string KeyHeaderPrefix = "X-Key-";

    /// <summary>
    /// Removes client copies of the stamped headers (and of the signature header) from the incoming request, in any
    /// letter case and with '_' read as '-' (CGI-style upstreams see <c>X_Org_Id</c> as <c>HTTP_X_ORG_ID</c>, the
    /// same as <c>X-Org-Id</c>), and, when asked, every header whose name contains '_'. The proxy runs it only
    /// for <c>DropHeadersWithUnderscores</c>: the identity transform removes the reserved names from the
    /// upstream request (<see cref="RemoveReserved"/>), which costs less than enumerating the incoming headers.
    /// </summary>
    public static void RemoveClientCopies(IHeaderDictionary headers, bool dropUnderscoreNames = false)
    {
        List<string>? doomed = null;
        foreach (var header in headers)
        {
            var name = header.Key;
            if (IsReserved(name) || (dropUnderscoreNames && name.Contains('_')))
            {
                (doomed ??= []).Add(name);
            }
        }

        if (doomed is not null)
        {
            foreach (var name in doomed)
            {
                headers.Remove(name);
            }
        }
    }

    /// <summary>
    /// Removes every header under a reserved name (in any spelling <see cref="RemoveClientCopies"/> knows)
    /// from the upstream request: the client's copies, which YARP copied with the other headers, and any a
    /// route transform set. Reads the request's own header list, which enumerates without allocating.
    /// </summary>
    public static void RemoveReserved(HttpRequestHeaders headers)
    {
        List<string>? doomed = null;
        foreach (var header in headers.NonValidated)
        {
            if (IsReserved(header.Key))
            {
                (doomed ??= []).Add(header.Key);
            }
        }

        if (doomed is not null)
        {
            foreach (var name in doomed)
            {
                headers.Remove(name);
            }
        }
    }

    private static bool IsReserved(string name) =>
        (name.Length > KeyHeaderPrefix.Length && SameName(name.AsSpan(0, KeyHeaderPrefix.Length), KeyHeaderPrefix))
        || (name.Length == OrgId.Length && SameName(name, OrgId))
        || (name.Length == CustomerId.Length && SameName(name, CustomerId))
        || (name.Length == IdentitySigner.HeaderName.Length && SameName(name, IdentitySigner.HeaderName));

    /// <summary>Equal ignoring ASCII case, with '_' and '-' the same character.</summary>
    private static bool SameName(ReadOnlySpan<char> candidate, ReadOnlySpan<char> reserved)
    {
        for (var i = 0; i < reserved.Length; i++)
        {
            var c = candidate[i] == '_' ? '-' : candidate[i];
            if (char.ToLowerInvariant(c) != char.ToLowerInvariant(reserved[i]))
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>
    /// Adds the identity of <paramref name="key"/> to the upstream request, which carries none of these
    /// headers any more (<see cref="RemoveReserved"/>).
    /// </summary>
    public static void Stamp(HttpRequestHeaders headers, CachedKey key)
    {
        headers.TryAddWithoutValidation(OrgId, key.OrgId);
        headers.TryAddWithoutValidation(KeyId, key.Id);
        headers.TryAddWithoutValidation(KeyName, key.Name);
        headers.TryAddWithoutValidation(KeyScopes, key.ScopesHeader);
        headers.TryAddWithoutValidation(KeyEnvironment, key.Environment);
        if (key.CustomerId is not null)
        {
            headers.TryAddWithoutValidation(CustomerId, key.CustomerId);
        }
    }

    /// <summary>Replaces whatever value <paramref name="name"/> has on the upstream request.</summary>
    public static void Set(HttpRequestHeaders headers, string name, string value)
    {
        headers.Remove(name);
        headers.TryAddWithoutValidation(name, value);
    }
}
