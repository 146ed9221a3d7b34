using System.Text.RegularExpressions;
using Gateway.Tests.Common;

namespace Gateway.Tests.Architecture;

/// <summary>
/// docs/architecture.md's dependency table is the architecture: the real graph must be exactly the table,
/// and each feature may use only features listed above it (the layer order). The real graph is the
/// compiled one (method bodies included) joined with the sources' <c>using Gateway.X</c> lines and
/// qualified <c>Gateway.X.</c> names, which is how a use of a constant (inlined by the compiler) still
/// shows: IDE0005 makes every <c>using</c> line a real use.
/// </summary>
public sealed partial class DocumentedArchitectureTests
{
    [Test]
    public void DependencyTable_EqualsTheRealGraph()
    {
        var documented = DocumentedGraph();
        var real = RealGraph();

        var differences = new List<string>();
        foreach (var feature in documented.Keys.Union(real.Keys).Order(StringComparer.Ordinal))
        {
            var doc = documented.GetValueOrDefault(feature) ?? [];
            var used = real.GetValueOrDefault(feature) ?? [];
            if (!documented.ContainsKey(feature))
            {
                differences.Add($"{feature}: a feature folder the table does not list (uses {string.Join(", ", used.Order(StringComparer.Ordinal))})");
                continue;
            }

            if (!real.ContainsKey(feature))
            {
                differences.Add($"{feature}: listed, but there is no such feature folder");
                continue;
            }

            foreach (var missing in used.Except(doc).Order(StringComparer.Ordinal))
            {
                differences.Add($"{feature} uses {missing}, which the table does not say");
            }

            foreach (var extra in doc.Except(used).Order(StringComparer.Ordinal))
            {
                differences.Add($"{feature}: the table says it uses {extra}, which it does not");
            }
        }

        Assert.That(differences, Is.Empty, "docs/architecture.md's dependency table differs from the code:\n" + string.Join("\n", differences) + "\n\nReal graph:\n" + NamespaceDependencyTests.Describe(real));
    }

    [Test]
    public void DependencyTable_EachFeatureUsesOnlyFeaturesAboveIt()
    {
        var order = DocumentedOrder();
        var real = RealGraph();

        var violations = real
            .Where(p => order.ContainsKey(p.Key))
            .SelectMany(p => p.Value.Where(used => !order.TryGetValue(used, out var at) || at >= order[p.Key]).Select(used => $"{p.Key} uses {used}, which is not above it"))
            .Order(StringComparer.Ordinal)
            .ToList();

        Assert.That(violations, Is.Empty, "layer order of docs/architecture.md broken:\n" + string.Join("\n", violations));
    }

    [Test]
    public void RealGraph_ConstantOnlyUse_IsSeen()
    {
        // The check must be able to see what the compiled graph cannot: Cli names the listeners only
        // through the constant Listeners.AdminName, which the compiler inlines.
        Assert.That(RealGraph()["Cli"], Does.Contain("Http"));
    }

    [Test]
    public void DocumentedGraph_ParsesEveryRow()
    {
        var documented = DocumentedGraph();

        Assert.That(documented["Domain"], Is.Empty);
        Assert.That(documented["Hosting"], Does.Contain("Admin").And.Contain("Tls").And.Not.Contain("Hosting").And.Not.Contain("Cli"));
    }

    internal static Dictionary<string, HashSet<string>> RealGraph()
    {
        var graph = NamespaceDependencyTests.FeatureGraph(typeof(Gateway.Hosting.GatewayHostingExtensions).Assembly);
        foreach (var (feature, uses) in SourceGraph())
        {
            var edges = graph.TryGetValue(feature, out var e) ? e : graph[feature] = new HashSet<string>(StringComparer.Ordinal);
            edges.UnionWith(uses);
        }

        return graph;
    }

    private static Dictionary<string, HashSet<string>> SourceGraph()
    {
        var root = RepositoryFiles.PathOf("Gateway");
        var graph = new Dictionary<string, HashSet<string>>(StringComparer.Ordinal);
        foreach (var file in Directory.EnumerateFiles(root, "*.cs", SearchOption.AllDirectories))
        {
            var relative = Path.GetRelativePath(root, file);
            var parts = relative.Split(Path.DirectorySeparatorChar);
            if (parts.Length < 2 || parts[0] is "bin" or "obj")
            {
                continue;
            }

            var feature = parts[0];
            var edges = graph.TryGetValue(feature, out var e) ? e : graph[feature] = new HashSet<string>(StringComparer.Ordinal);
            var text = Comments().Replace(File.ReadAllText(file), "");
            foreach (Match match in Reference().Matches(text))
            {
                var used = match.Groups[1].Value;
                if (used != feature && Directory.Exists(Path.Combine(root, used)))
                {
                    edges.Add(used);
                }
            }
        }

        return graph;
    }

    private static Dictionary<string, HashSet<string>> DocumentedGraph()
    {
        var rows = TableRows();
        return rows.ToDictionary(
            r => r.Feature,
            r => r.Uses.Trim() switch
            {
                "—" or "-" or "" => new HashSet<string>(StringComparer.Ordinal),
                "every feature above" => rows.TakeWhile(above => above.Feature != r.Feature).Select(above => above.Feature).ToHashSet(StringComparer.Ordinal),
                var list => list.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries).ToHashSet(StringComparer.Ordinal),
            },
            StringComparer.Ordinal);
    }

    private static Dictionary<string, int> DocumentedOrder() =>
        TableRows().Select((r, i) => (r.Feature, i)).ToDictionary(p => p.Feature, p => p.i, StringComparer.Ordinal);

    private static List<(string Feature, string Uses)> TableRows()
    {
        var doc = RepositoryFiles.Read("docs", "architecture.md");
        var section = doc[doc.IndexOf("## Dependencies between features", StringComparison.Ordinal)..];
        var end = section.IndexOf("\n## ", StringComparison.Ordinal);
        section = end < 0 ? section : section[..end];
        return TableRow().Matches(section).Select(m => (m.Groups[1].Value, m.Groups[2].Value)).ToList();
    }

    [GeneratedRegex(@"^\| `([A-Za-z]+)`[^|]*\| ([^|]*) \|\s*$", RegexOptions.Multiline)]
    private static partial Regex TableRow();

    // A using directive or a qualified name of another feature: Gateway.RateLimiting, Gateway.Http.Listeners.
    [GeneratedRegex(@"\bGateway\.([A-Z][A-Za-z]*)\b")]
    private static partial Regex Reference();

    [GeneratedRegex(@"//[^\n]*|/\*.*?\*/", RegexOptions.Singleline)]
    private static partial Regex Comments();
}
