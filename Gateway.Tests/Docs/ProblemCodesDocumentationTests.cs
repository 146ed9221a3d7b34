using System.Text.RegularExpressions;
using Gateway.Http;
using Gateway.Tests.Common;

namespace Gateway.Tests.Docs;

/// <summary>docs/problems.md lists every problem code the gateway can answer with, and the type URIs point there.</summary>
public sealed partial class ProblemCodesDocumentationTests
{
    [Test]
    public void ProblemsTable_AndProblemCodes_ListTheSameCodesWithTheSameStatus()
    {
        var documented = RowRegex().Matches(RepositoryFiles.Read("docs", "problems.md"))
            .Select(m => $"{m.Groups["code"].Value} {m.Groups["status"].Value}")
            .Order(StringComparer.Ordinal);
        var declared = ProblemCodes.All.Select(p => $"{p.Code} {p.Status}").Order(StringComparer.Ordinal);

        Assert.That(declared, Is.EqualTo(documented), "ProblemCodes and the rows of docs/problems.md (code and status)");
        Assert.That(ProblemCodes.All.Select(p => p.Code), Is.Unique);
    }

    [Test]
    public void ProblemCodes_All_HoldsEveryDeclaredCode()
    {
        var fields = typeof(ProblemCodes).GetFields(System.Reflection.BindingFlags.Public | System.Reflection.BindingFlags.Static)
            .Where(f => f.FieldType == typeof(ProblemCode))
            .Select(f => (ProblemCode)f.GetValue(null)!);
        Assert.That(ProblemCodes.All, Is.EquivalentTo(fields));
    }

    /// <summary>Writers not yet switched to <see cref="ProblemCodes"/> still pass literals; those must be documented too.</summary>
    [Test]
    public void ProblemsTable_EveryCodeTheSourceEmits_IsDocumented()
    {
        var emitted = EmittedCodes();
        var documented = DocumentedCodes();

        Assert.That(emitted.Except(documented).Order(), Is.Empty, "codes the gateway emits that docs/problems.md does not document");
    }

    [Test]
    public void ProblemsTable_EveryRow_HasAnAnchorNamedAfterItsCode()
    {
        var rows = RowRegex().Matches(RepositoryFiles.Read("docs", "problems.md"));
        Assert.That(rows, Is.Not.Empty);
        foreach (Match row in rows)
        {
            Assert.That(row.Groups["anchor"].Value, Is.EqualTo(row.Groups["code"].Value), row.Value);
        }
    }

    [Test]
    public async Task ProblemType_ProxyAndAdminErrors_AreRelativeReferencesToTheirRowInProblemsMd()
    {
        await using var gateway = await GatewayHost.StartAsync();
        var documented = DocumentedCodes();

        using var noRoute = await gateway.CallAsync("/nowhere", key: null);
        using var unauthorized = await new HttpClient().GetAsync(new Uri(gateway.AdminUrl, "admin/orgs"));
        foreach (var response in new[] { noRoute, unauthorized })
        {
            var problem = await GatewayHost.ProblemAsync(response);
            var code = problem.Str("code");
            Assert.That(problem.Str("type"), Is.EqualTo("problems.md#" + code));
            // Resolved against any page of the published docs, it lands on the code's row.
            var docsPage = new Uri("https://docs.example/gateway/docs/proxy.md");
            Assert.That(new Uri(docsPage, problem.Str("type")).ToString(), Is.EqualTo("https://docs.example/gateway/docs/problems.md#" + code));
            Assert.That(documented, Does.Contain(code));
        }

        Assert.That(Directory.EnumerateFiles(RepositoryFiles.PathOf("docs"), "*.md").Select(File.ReadAllText), Has.None.Contains("gateway.dev"));
    }

    /// <summary>
    /// Codes passed to the problem writers: the first lower_snake string literal directly followed by
    /// another string literal (the title) in the arguments of GatewayProblem.WriteAsync, a RejectAsync
    /// helper or an AdminProblem.
    /// </summary>
    private static SortedSet<string> EmittedCodes()
    {
        var codes = new SortedSet<string>(StringComparer.Ordinal);
        foreach (var file in Directory.EnumerateFiles(RepositoryFiles.PathOf("Gateway"), "*.cs", SearchOption.AllDirectories))
        {
            if (file.Contains($"{Path.DirectorySeparatorChar}obj{Path.DirectorySeparatorChar}", StringComparison.Ordinal)
                || file.Contains($"{Path.DirectorySeparatorChar}bin{Path.DirectorySeparatorChar}", StringComparison.Ordinal))
            {
                continue;
            }

            var source = File.ReadAllText(file);
            foreach (Match call in CallRegex().Matches(source))
            {
                var arguments = Arguments(source, call.Index + call.Length - 1);
                if (CodeRegex().Match(arguments) is { Success: true } code)
                {
                    codes.Add(code.Groups["code"].Value);
                }
            }
        }

        return codes;
    }

    private static HashSet<string> DocumentedCodes() =>
        RowRegex().Matches(RepositoryFiles.Read("docs", "problems.md")).Select(m => m.Groups["code"].Value).ToHashSet(StringComparer.Ordinal);

    /// <summary>The text between the parenthesis at <paramref name="open"/> and its match, skipping string literals.</summary>
    private static string Arguments(string source, int open)
    {
        var depth = 0;
        var inString = false;
        for (var i = open; i < source.Length; i++)
        {
            var c = source[i];
            if (inString)
            {
                if (c == '\\')
                {
                    i++;
                }
                else if (c == '"')
                {
                    inString = false;
                }

                continue;
            }

            switch (c)
            {
                case '"':
                    inString = true;
                    break;
                case '(':
                    depth++;
                    break;
                case ')' when --depth == 0:
                    return source[(open + 1)..i];
            }
        }

        return source[(open + 1)..];
    }

    [GeneratedRegex(@"\b(?:GatewayProblem\.WriteAsync|RejectAsync|AdminProblem)\s*\(")]
    private static partial Regex CallRegex();

    [GeneratedRegex(@"""(?<code>[a-z][a-z0-9]*(?:_[a-z0-9]+)*)""\s*,\s*\$?""")]
    private static partial Regex CodeRegex();

    [GeneratedRegex(@"^\|\s*<a id=""(?<anchor>[^""]+)""></a>`(?<code>[a-z0-9_]+)`\s*\|\s*(?<status>\d{3})\s*\|", RegexOptions.Multiline)]
    private static partial Regex RowRegex();
}
