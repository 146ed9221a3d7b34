using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Gateway.Tests.Common;

namespace Gateway.Tests.Observability;

/// <summary>The Grafana dashboard in deploy/ queries only metrics the gateway exports.</summary>
public sealed partial class DashboardTests
{
    [Test]
    public async Task Dashboard_EveryQuery_ReferencesExportedMetrics()
    {
        var dashboard = JsonNode.Parse(await File.ReadAllTextAsync(Path.Combine(RepositoryRoot(), "deploy", "grafana", "gateway-dashboard.json")))!;
        var expressions = dashboard["panels"]!.AsArray()
            .SelectMany(p => p!["targets"]!.AsArray().Select(t => t!.Str("expr")))
            .Append(dashboard["templating"]!["list"]!.AsArray().Select(v => v!.Str("query")).Single(q => q.StartsWith("label_values", StringComparison.Ordinal)))
            .ToList();
        Assert.That(expressions, Has.Count.GreaterThanOrEqualTo(8));

        await using var gateway = await GatewayHost.StartAsync();
        using var client = new HttpClient { BaseAddress = gateway.AdminUrl };
        var exported = MetricFamily().Matches(await client.GetStringAsync("metrics")).Select(m => m.Groups[1].Value).ToHashSet(StringComparer.Ordinal);

        var referenced = expressions.SelectMany(e => MetricName().Matches(e).Select(m => m.Value)).Distinct().ToList();
        Assert.That(referenced, Has.Count.GreaterThanOrEqualTo(6));
        foreach (var name in referenced)
        {
            var family = Regex.Replace(name, "_(bucket|sum|count)$", "");
            Assert.That(exported, Does.Contain(family), $"the dashboard queries {name}, which /metrics does not export");
        }
    }

    private static string RepositoryRoot()
    {
        var directory = new DirectoryInfo(TestContext.CurrentContext.TestDirectory);
        while (directory is not null && !File.Exists(Path.Combine(directory.FullName, "Gateway.sln")))
        {
            directory = directory.Parent;
        }

        return directory?.FullName ?? throw new InvalidOperationException("Gateway.sln not found above the test directory");
    }

    [GeneratedRegex(@"^# TYPE (\S+) ", RegexOptions.Multiline)]
    private static partial Regex MetricFamily();

    [GeneratedRegex(@"\b(gateway|dotnet)_[a-z_]+\b")]
    private static partial Regex MetricName();
}
