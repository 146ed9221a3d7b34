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
    /// Removes client copies of the stamped headers (and of the signature header) in any letter case and with '_' read as '-'
    /// (CGI-style upstreams see <c>X_Org_Id</c> as <c>HTTP_X_ORG_ID</c>, the same as <c>X-Org-Id</c>),
    /// and, when asked, every header whose name contains '_'.
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
    /// Sets the identity of <paramref name="key"/> on the upstream request. With <paramref name="replace"/>,
    /// any value a route transform set is replaced, and a customer id the key does not have is removed;
    /// without it, the request is known to carry none of these headers yet and they are only added.
    /// </summary>
    public static void Stamp(HttpRequestHeaders headers, ApiKeyRecord key, bool replace = true)
    {
        Put(headers, OrgId, key.OrgId, replace);
        Put(headers, KeyId, key.Id, replace);
        Put(headers, KeyName, key.Name, replace);
        Put(headers, KeyScopes, key.ScopesHeader, replace);
        Put(headers, KeyEnvironment, key.Environment, replace);
        if (key.CustomerId is not null)
        {
            Put(headers, CustomerId, key.CustomerId, replace);
        }
        else if (replace)
        {
            headers.Remove(CustomerId);
        }
    }

    /// <summary>
    /// Removes the identity headers from an upstream request that carries no key (an anonymous route):
    /// client copies are gone already, this catches a route transform that set one.
    /// </summary>
    public static void Clear(HttpRequestHeaders headers)
    {
        headers.Remove(OrgId);
        headers.Remove(KeyId);
        headers.Remove(KeyName);
        headers.Remove(KeyScopes);
        headers.Remove(KeyEnvironment);
        headers.Remove(CustomerId);
    }

    public static void Set(HttpRequestHeaders headers, string name, string value) => Put(headers, name, value, replace: true);

    private static void Put(HttpRequestHeaders headers, string name, string value, bool replace)
    {
        if (replace)
        {
            headers.Remove(name);
        }

        headers.TryAddWithoutValidation(name, value);
    }
}
