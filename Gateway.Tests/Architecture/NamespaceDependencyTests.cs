using System.Reflection;
using System.Reflection.Emit;
using System.Text.RegularExpressions;
using Gateway.Tests.Common;

namespace Gateway.Tests.Architecture;

/// <summary>
/// The feature folders of <c>Gateway/</c> must form an acyclic graph (docs/architecture.md), and store code (the
/// Redis and SQLite drivers, <c>Stores/Redis</c>, <c>Stores/Sqlite</c>) is used outside <c>Stores/</c> only where
/// the doc's table says, and there only by a feature's own store classes. The graph is read from the compiled
/// assembly, method bodies included, so a partially qualified name or a lambda cannot hide a dependency the
/// <c>using</c> lines do not show.
/// </summary>
public sealed partial class NamespaceDependencyTests
{
    private static readonly Assembly GatewayAssembly = typeof(Gateway.Hosting.GatewayHostingExtensions).Assembly;

    [Test]
    public void FeatureGraph_CompiledAssembly_HasNoCycle()
    {
        var graph = FeatureGraph(GatewayAssembly);
        TestContext.Out.WriteLine(Describe(graph));
        var cycles = StronglyConnected(graph).Where(c => c.Count > 1).Select(c => string.Join(" <-> ", c.Order(StringComparer.Ordinal))).ToList();

        Assert.That(cycles, Is.Empty, "Features that depend on each other:\n" + Describe(graph));
    }

    [Test]
    public void FeatureGraph_Domain_DependsOnNoOtherFeature()
    {
        var graph = FeatureGraph(GatewayAssembly);

        Assert.That(graph, Does.ContainKey("Domain"));
        Assert.That(graph["Domain"], Is.Empty);
    }

    [Test]
    public void FeatureGraph_KnownCycle_IsFound()
    {
        // The check itself must be able to fail.
        var graph = new Dictionary<string, HashSet<string>>
        {
            ["A"] = ["B"],
            ["B"] = ["C"],
            ["C"] = ["A"],
            ["D"] = ["A"],
        };

        Assert.That(StronglyConnected(graph).Where(c => c.Count > 1).Select(c => c.Order(StringComparer.Ordinal)), Is.EqualTo(new[] { new[] { "A", "B", "C" } }));
    }

    [Test]
    public void FeatureGraph_LambdaAndPartiallyQualifiedName_Seen()
    {
        // Hosting reaches Auth only inside the lambda that composes the proxy pipeline.
        var graph = FeatureGraph(GatewayAssembly);

        Assert.That(graph["Hosting"], Does.Contain("Auth").And.Contain("RateLimiting").And.Contain("Proxy"));
    }

    [Test]
    public void StoreCode_UsedOutsideStores_IsExactlyTheDocumentedTable()
    {
        var documented = DocumentedStoreCode();
        var real = StoreCodeUses(GatewayAssembly)
            .SelectMany(f => f.Value.Keys.Select(code => (Code: code, Feature: f.Key)))
            .GroupBy(p => p.Code)
            .ToDictionary(g => g.Key, g => g.Select(p => p.Feature).ToHashSet(StringComparer.Ordinal), StringComparer.Ordinal);

        var differences = new List<string>();
        foreach (var code in StoreCodes)
        {
            var doc = documented.GetValueOrDefault(code) ?? [];
            var used = real.GetValueOrDefault(code) ?? [];
            differences.AddRange(used.Except(doc).Order(StringComparer.Ordinal).Select(f => $"{f} uses {code}, which the table does not say"));
            differences.AddRange(doc.Except(used).Order(StringComparer.Ordinal).Select(f => $"the table says {f} uses {code}, which it does not"));
        }

        Assert.That(documented.Keys, Is.EquivalentTo(StoreCodes), "docs/architecture.md's store-code table has one row for each of: " + string.Join(", ", StoreCodes));
        Assert.That(differences, Is.Empty, "docs/architecture.md's store-code table differs from the code:\n" + string.Join("\n", differences) + "\n\nReal uses:\n" + DescribeStoreCode(GatewayAssembly));
    }

    [Test]
    public void StoreCode_OutsideStoresAndCli_OnlyInTheFeaturesOwnStoreClasses()
    {
        // A feature keeps its Redis and SQLite implementations behind its own interface (RedisCustomerStore,
        // SqliteCustomerStore); its registration, endpoints and stages see only that interface. Cli's store
        // commands (backup, import, migrate-store) are store code by purpose.
        var violations = StoreCodeUses(GatewayAssembly)
            .Where(f => f.Key != "Cli")
            .SelectMany(f => f.Value.SelectMany(code => code.Value
                .Where(type => !type.StartsWith(code.Key.Contains("Redis", StringComparison.Ordinal) ? "Redis" : "Sqlite", StringComparison.Ordinal))
                .Select(type => $"{f.Key}.{type} uses {code.Key}")))
            .Order(StringComparer.Ordinal)
            .ToList();

        Assert.That(violations, Is.Empty, "store code outside a feature's Redis…/Sqlite… store classes:\n" + string.Join("\n", violations));
    }

    [Test]
    public void StoreCode_FeatureStoreClass_IsSeen()
    {
        // The check must see a driver used inside a method body and a Stores/Redis helper used in a lambda.
        var usage = StoreCodeUses(GatewayAssembly)["Usage"];

        Assert.That(usage["StackExchange.Redis"], Does.Contain("RedisUsageStore"));
        Assert.That(usage["Stores.Redis"], Does.Contain("RedisUsageStore"));
        Assert.That(usage["Microsoft.Data.Sqlite"], Does.Contain("SqliteUsageStore"));
    }

    private static readonly string[] StoreCodes = ["StackExchange.Redis", "Microsoft.Data.Sqlite", "Stores.Redis", "Stores.Sqlite"];

    /// <summary>Feature (other than Stores) → store code it uses → the (outermost) types that use it.</summary>
    internal static Dictionary<string, Dictionary<string, SortedSet<string>>> StoreCodeUses(Assembly assembly)
    {
        var uses = new Dictionary<string, Dictionary<string, SortedSet<string>>>(StringComparer.Ordinal);
        foreach (var type in assembly.GetTypes())
        {
            if (Feature(type) is not { } feature || feature == "Stores")
            {
                continue;
            }

            foreach (var used in Referenced(type))
            {
                if (StoreCode(used) is not { } code)
                {
                    continue;
                }

                var byCode = uses.TryGetValue(feature, out var b) ? b : uses[feature] = new Dictionary<string, SortedSet<string>>(StringComparer.Ordinal);
                var types = byCode.TryGetValue(code, out var t) ? t : byCode[code] = new SortedSet<string>(StringComparer.Ordinal);
                types.Add(Outermost(type).Name.Split('`')[0]);
            }
        }

        return uses;
    }

    private static string? StoreCode(Type type) => type.Assembly.GetName().Name switch
    {
        "StackExchange.Redis" or "Microsoft.AspNetCore.DataProtection.StackExchangeRedis" => "StackExchange.Redis",
        "Microsoft.Data.Sqlite" => "Microsoft.Data.Sqlite",
        _ when Outermost(type).Namespace is "Gateway.Stores.Redis" => "Stores.Redis",
        _ when Outermost(type).Namespace is "Gateway.Stores.Sqlite" => "Stores.Sqlite",
        _ => null,
    };

    private static string DescribeStoreCode(Assembly assembly) => string.Join("\n", StoreCodeUses(assembly)
        .OrderBy(f => f.Key, StringComparer.Ordinal)
        .SelectMany(f => f.Value.OrderBy(c => c.Key, StringComparer.Ordinal).Select(c => $"{f.Key} -> {c.Key} ({string.Join(", ", c.Value)})")));

    /// <summary>Store code → features, from docs/architecture.md's "Store code outside Stores/" table.</summary>
    private static Dictionary<string, HashSet<string>> DocumentedStoreCode()
    {
        var doc = RepositoryFiles.Read("docs", "architecture.md");
        var start = doc.IndexOf("## Store code outside Stores/", StringComparison.Ordinal);
        Assert.That(start, Is.GreaterThanOrEqualTo(0), "docs/architecture.md has no section '## Store code outside Stores/'");
        var section = doc[start..];
        var end = section.IndexOf("\n## ", 3, StringComparison.Ordinal);
        return StoreCodeRow().Matches(end < 0 ? section : section[..end]).ToDictionary(
            m => m.Groups[1].Value,
            m => m.Groups[2].Value.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries).Where(f => f is not ("—" or "-")).ToHashSet(StringComparer.Ordinal),
            StringComparer.Ordinal);
    }

    [GeneratedRegex(@"^\| `([A-Za-z.]+)` \| ([^|]*) \|\s*$", RegexOptions.Multiline)]
    private static partial Regex StoreCodeRow();

    private static Type Outermost(Type type)
    {
        while (type.DeclaringType is not null)
        {
            type = type.DeclaringType;
        }

        return type;
    }

    /// <summary>Feature → features it uses; a feature is the first namespace segment under <c>Gateway</c>.</summary>
    internal static Dictionary<string, HashSet<string>> FeatureGraph(Assembly assembly)
    {
        var graph = new Dictionary<string, HashSet<string>>(StringComparer.Ordinal);
        foreach (var type in assembly.GetTypes())
        {
            var from = Feature(type);
            if (from is null)
            {
                continue;
            }

            var edges = graph.TryGetValue(from, out var e) ? e : graph[from] = new HashSet<string>(StringComparer.Ordinal);
            foreach (var used in Referenced(type))
            {
                if (used.Assembly == assembly && Feature(used) is { } to && to != from)
                {
                    edges.Add(to);
                }
            }
        }

        return graph;
    }

    internal static string Describe(Dictionary<string, HashSet<string>> graph) =>
        string.Join("\n", graph.OrderBy(p => p.Key, StringComparer.Ordinal).Select(p => $"{p.Key} -> {string.Join(", ", p.Value.Order(StringComparer.Ordinal))}"));

    private static string? Feature(Type type)
    {
        while (type.DeclaringType is not null)
        {
            type = type.DeclaringType;
        }

        var ns = type.Namespace;
        if (ns is null || !ns.StartsWith("Gateway.", StringComparison.Ordinal))
        {
            return null;
        }

        var rest = ns["Gateway.".Length..];
        var dot = rest.IndexOf('.', StringComparison.Ordinal);
        return dot < 0 ? rest : rest[..dot];
    }

    private static HashSet<Type> Referenced(Type type)
    {
        const BindingFlags all = BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Instance | BindingFlags.Static | BindingFlags.DeclaredOnly;
        var found = new HashSet<Type>();
        Add(found, type.BaseType);
        foreach (var i in type.GetInterfaces())
        {
            Add(found, i);
        }

        foreach (var field in type.GetFields(all))
        {
            Add(found, field.FieldType);
        }

        foreach (var property in type.GetProperties(all))
        {
            Add(found, property.PropertyType);
        }

        foreach (var method in type.GetMethods(all).Cast<MethodBase>().Concat(type.GetConstructors(all)))
        {
            if (method is MethodInfo info)
            {
                Add(found, info.ReturnType);
            }

            foreach (var parameter in method.GetParameters())
            {
                Add(found, parameter.ParameterType);
            }

            foreach (var member in BodyReferences(method))
            {
                switch (member)
                {
                    case Type t:
                        Add(found, t);
                        break;
                    case FieldInfo f:
                        Add(found, f.DeclaringType);
                        Add(found, f.FieldType);
                        break;
                    case MethodBase m:
                        Add(found, m.DeclaringType);
                        if (m is MethodInfo mi)
                        {
                            Add(found, mi.ReturnType);
                            if (mi.IsGenericMethod)
                            {
                                foreach (var g in mi.GetGenericArguments())
                                {
                                    Add(found, g);
                                }
                            }
                        }

                        break;
                }
            }
        }

        return found;
    }

    private static void Add(HashSet<Type> found, Type? type)
    {
        if (type is null || type.IsGenericParameter || !found.Add(type))
        {
            return;
        }

        if (type.HasElementType)
        {
            Add(found, type.GetElementType());
        }

        if (type.IsGenericType)
        {
            foreach (var argument in type.GetGenericArguments())
            {
                Add(found, argument);
            }
        }
    }

    private static readonly Dictionary<short, OpCode> OpCodesByValue = typeof(OpCodes)
        .GetFields(BindingFlags.Public | BindingFlags.Static)
        .Select(f => (OpCode)f.GetValue(null)!)
        .ToDictionary(o => o.Value);

    /// <summary>Types, fields and methods a method body names (call, newobj, ldfld, ldtoken, castclass, …).</summary>
    private static IEnumerable<MemberInfo> BodyReferences(MethodBase method)
    {
        byte[]? il;
        try
        {
            il = method.GetMethodBody()?.GetILAsByteArray();
        }
        catch (InvalidOperationException)
        {
            yield break;
        }

        if (il is null)
        {
            yield break;
        }

        var typeArguments = method.DeclaringType is { IsGenericType: true } d ? d.GetGenericArguments() : null;
        var methodArguments = method.IsGenericMethod ? method.GetGenericArguments() : null;
        var i = 0;
        while (i < il.Length)
        {
            short value = il[i++];
            if (value == 0xFE)
            {
                value = unchecked((short)(0xFE00 | il[i++]));
            }

            var opCode = OpCodesByValue[value];
            switch (opCode.OperandType)
            {
                case OperandType.InlineField:
                case OperandType.InlineMethod:
                case OperandType.InlineType:
                case OperandType.InlineTok:
                    var token = BitConverter.ToInt32(il, i);
                    i += 4;
                    MemberInfo? member;
                    try
                    {
                        member = method.Module.ResolveMember(token, typeArguments, methodArguments);
                    }
                    catch (Exception ex) when (ex is ArgumentException or TypeLoadException or MissingMemberException)
                    {
                        member = null;
                    }

                    if (member is not null)
                    {
                        yield return member;
                    }

                    break;
                case OperandType.InlineSwitch:
                    var count = BitConverter.ToInt32(il, i);
                    i += 4 + (4 * count);
                    break;
                case OperandType.InlineNone:
                    break;
                case OperandType.ShortInlineBrTarget:
                case OperandType.ShortInlineI:
                case OperandType.ShortInlineVar:
                    i += 1;
                    break;
                case OperandType.InlineVar:
                    i += 2;
                    break;
                case OperandType.InlineI8:
                case OperandType.InlineR:
                    i += 8;
                    break;
                default:
                    i += 4;
                    break;
            }
        }
    }

    /// <summary>Tarjan's strongly connected components: every component of more than one node is a cycle.</summary>
    internal static List<List<string>> StronglyConnected(Dictionary<string, HashSet<string>> graph)
    {
        var index = new Dictionary<string, int>(StringComparer.Ordinal);
        var low = new Dictionary<string, int>(StringComparer.Ordinal);
        var stack = new Stack<string>();
        var onStack = new HashSet<string>(StringComparer.Ordinal);
        var result = new List<List<string>>();
        var next = 0;

        void Visit(string node)
        {
            index[node] = low[node] = next++;
            stack.Push(node);
            onStack.Add(node);
            foreach (var to in graph.TryGetValue(node, out var edges) ? edges : [])
            {
                if (!index.TryGetValue(to, out var seen))
                {
                    Visit(to);
                    low[node] = Math.Min(low[node], low[to]);
                }
                else if (onStack.Contains(to))
                {
                    low[node] = Math.Min(low[node], seen);
                }
            }

            if (low[node] == index[node])
            {
                var component = new List<string>();
                string popped;
                do
                {
                    popped = stack.Pop();
                    onStack.Remove(popped);
                    component.Add(popped);
                }
                while (popped != node);
                result.Add(component);
            }
        }

        foreach (var node in graph.Keys.ToList())
        {
            if (!index.ContainsKey(node))
            {
                Visit(node);
            }
        }

        return result;
    }
}
