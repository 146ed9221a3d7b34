using System.Text.Json.Nodes;

namespace Gateway.Tests.Common;

/// <summary>The JSON reads every admin API test repeats, with a failure that names the missing field.</summary>
public static class JsonReads
{
    /// <summary>The string field <paramref name="name"/> of an object.</summary>
    public static string Str(this JsonNode? node, string name) =>
        (node ?? throw new AssertionException($"no JSON object to read '{name}' from"))[name]?.GetValue<string>()
        ?? throw new AssertionException($"JSON has no string '{name}': {node.ToJsonString()}");

    /// <summary>The plaintext of the default key in a create-organization answer.</summary>
    public static string DefaultKey(this JsonNode org) => org["defaultKey"].Str("key");

    /// <summary>The id of the default key in a create-organization answer.</summary>
    public static string DefaultKeyId(this JsonNode org) => org["defaultKey"].Str("id");
}
