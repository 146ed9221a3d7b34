using System.Text.Json.Nodes;
using YamlDotNet.RepresentationModel;

namespace Gateway.Tests.Common;

/// <summary>
/// YAML files (Kubernetes manifests, compose) read with a real YAML parser and turned into JsonNode trees
/// so tests can walk them; scalars stay strings, as YAML leaves their type to the reader.
/// </summary>
public static class YamlDocuments
{
    public static IReadOnlyList<JsonObject> Load(string path)
    {
        var stream = new YamlStream();
        using (var reader = new StringReader(File.ReadAllText(path)))
        {
            stream.Load(reader);
        }

        return stream.Documents
            .Select(d => ToJson(d.RootNode))
            .OfType<JsonObject>()
            .ToList();
    }

    private static JsonNode? ToJson(YamlNode node) => node switch
    {
        YamlMappingNode map => Mapping(map),
        YamlSequenceNode list => new JsonArray(list.Children.Select(ToJson).ToArray()),
        YamlScalarNode { Value: null or "~" or "null" } => null,
        YamlScalarNode scalar => JsonValue.Create(scalar.Value),
        _ => throw new InvalidDataException("unsupported YAML node " + node.NodeType),
    };

    /// <summary>A mapping, with YAML merge keys (<c>&lt;&lt;: *anchor</c>) applied: own members win over merged ones.</summary>
    private static JsonObject Mapping(YamlMappingNode map)
    {
        var result = new JsonObject();
        foreach (var (key, value) in map.Children)
        {
            var name = ((YamlScalarNode)key).Value!;
            if (name != "<<")
            {
                result[name] = ToJson(value);
            }
        }

        foreach (var (key, value) in map.Children)
        {
            if (((YamlScalarNode)key).Value == "<<")
            {
                foreach (var (name, merged) in Mapping((YamlMappingNode)value))
                {
                    if (!result.ContainsKey(name))
                    {
                        result[name] = merged?.DeepClone();
                    }
                }
            }
        }

        return result;
    }

    /// <summary>The string at a path of member names, or null.</summary>
    public static string? Text(this JsonNode? node, params string[] path)
    {
        foreach (var name in path)
        {
            node = node is JsonObject o && o.TryGetPropertyValue(name, out var child) ? child : null;
        }

        return node?.ToString();
    }
}
