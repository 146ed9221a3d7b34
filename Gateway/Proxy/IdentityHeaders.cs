using Gateway.Domain;

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

    public static void RemoveClientCopies(IHeaderDictionary headers)
    {
        List<string>? doomed = null;
        foreach (var name in headers.Keys)
        {
            if (name.StartsWith(KeyHeaderPrefix, StringComparison.OrdinalIgnoreCase)
                || name.Equals(OrgId, StringComparison.OrdinalIgnoreCase)
                || name.Equals(CustomerId, StringComparison.OrdinalIgnoreCase))
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

    public static void Stamp(IHeaderDictionary headers, ApiKeyRecord key)
    {
        headers[OrgId] = key.OrgId;
        headers[KeyId] = key.Id;
        headers[KeyName] = key.Name;
        headers[KeyScopes] = string.Join(' ', key.Scopes);
        headers[KeyEnvironment] = key.Environment;
        if (key.CustomerId is not null)
        {
            headers[CustomerId] = key.CustomerId;
        }
    }
}
