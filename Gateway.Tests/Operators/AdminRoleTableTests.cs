using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Gateway.Tests.Common;

namespace Gateway.Tests.Operators;

/// <summary>
/// The role table in docs/admin-api.md is the authorization of the admin API: every operation of the
/// OpenAPI document has a row, and a token of each role gets 403 exactly where its column says "no".
/// A new endpoint without a row (or without a rule, which refuses every role) fails here.
/// </summary>
public sealed partial class AdminRoleTableTests
{
    private static readonly string[] Roles = ["verifier", "viewer", "admin", "owner"];

    [Test]
    public async Task EveryOpenApiOperation_EachRole_ForbiddenExactlyWhereTheTableSays()
    {
        var table = ReadTable();
        await using var gateway = await GatewayHost.StartAsync();
        var document = (await gateway.Admin.GetFromJsonAsync<JsonObject>("openapi/v1.json"))!;
        var operations = document["paths"]!.AsObject()
            .SelectMany(p => p.Value!.AsObject().Select(m => (Method: m.Key.ToUpperInvariant(), Path: p.Key)))
            .ToList();

        Assert.That(operations.Select(o => $"{o.Method} {o.Path}"), Is.EquivalentTo(table.Keys), "the table lists exactly the OpenAPI document's operations");

        var clients = new Dictionary<string, HttpClient>();
        foreach (var role in Roles)
        {
            clients[role] = await gateway.OperatorAsync("walk-" + role, role);
        }

        var failures = new List<string>();
        foreach (var (method, path) in operations)
        {
            // Ids that do not exist: an allowed call ends in the handler's 400 or 404, never changes anything.
            var url = path.TrimStart('/').Replace("{org}", "no-such-org").Replace("{id}", "no_such_id");
            foreach (var role in Roles)
            {
                using var request = new HttpRequestMessage(new HttpMethod(method), url);
                if (method is "POST" or "PATCH")
                {
                    request.Content = new StringContent("{}", Encoding.UTF8, "application/json");
                }

                using var response = await clients[role].SendAsync(request);
                var allowed = table[$"{method} {path}"][role];
                if (allowed == (response.StatusCode == HttpStatusCode.Forbidden))
                {
                    failures.Add($"{method} {path} as {role}: {(int)response.StatusCode}, table says {(allowed ? "allowed" : "forbidden")}");
                }
            }
        }

        foreach (var client in clients.Values)
        {
            client.Dispose();
        }

        Assert.That(failures, Is.Empty);
    }

    private static Dictionary<string, Dictionary<string, bool>> ReadTable()
    {
        var rows = new Dictionary<string, Dictionary<string, bool>>();
        foreach (Match row in Row().Matches(RepositoryFiles.Read("docs", "admin-api.md")))
        {
            var cells = row.Groups["roles"].Value.Split('|').Select(c => c.Trim()).ToArray();
            rows[$"{row.Groups["method"].Value} {row.Groups["path"].Value}"] =
                Roles.Select((role, i) => (role, cells[i] == "yes")).ToDictionary(r => r.role, r => r.Item2);
        }

        Assert.That(rows, Is.Not.Empty, "the role table in docs/admin-api.md");
        return rows;
    }

    [GeneratedRegex(@"^\| `(?<method>[A-Z]+)` \| `(?<path>/(?:admin|v1)/[^`]*)` \| (?<roles>(?:(?:yes|no) \| ){4})", RegexOptions.Multiline)]
    private static partial Regex Row();
}
