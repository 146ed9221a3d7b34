using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Gateway.Tests.Common;

namespace Gateway.Tests.Operators;

/// <summary>Creating and revoking an operator token is in the audit log, with the caller as actor.</summary>
public sealed class OperatorTokenAuditTests
{
    [TestCase(StoreKind.Sqlite)]
    [TestCase(StoreKind.Redis)]
    public async Task CreateAndRevoke_AuditedInTokensOrgWithCallerAsActor(StoreKind store)
    {
        await using var gateway = await GatewayHost.StartAsync(store: store);
        await gateway.CreateOrgAsync("acme");
        using var create = new HttpRequestMessage(HttpMethod.Post, "admin/tokens") { Content = JsonContent.Create(new { name = "ci-bot", role = "viewer", org = "acme" }) };
        create.Headers.Add("X-Admin-Actor", "alice");
        using var created = await gateway.Admin.SendAsync(create);
        var id = (await created.Content.ReadFromJsonAsync<JsonObject>())!["id"]!.GetValue<string>();
        await gateway.AdminPostAsync($"admin/tokens/{id}/revoke");
        await gateway.AdminPostAsync($"admin/tokens/{id}/revoke");

        var items = (await gateway.AdminGetAsync("admin/audit?org=acme"))["items"]!.AsArray()
            .Where(e => e!["action"]!.GetValue<string>().StartsWith("token.", StringComparison.Ordinal)).ToList();
        Assert.That(items.Select(e => e!["action"]!.GetValue<string>()), Is.EqualTo(new[] { "token.revoke", "token.create" }), "one revoke entry, newest first");
        Assert.That(items[1]!["actor"]!.GetValue<string>(), Is.EqualTo("alice"));
        Assert.That(items[0]!["actor"]!.GetValue<string>(), Is.EqualTo("admin"));
        Assert.That(items[1]!["changes"]!["tokenId"]!.GetValue<string>(), Is.EqualTo(id));
    }

    [Test]
    public async Task OrgLessToken_AuditedInGatewayWideLog()
    {
        await using var gateway = await GatewayHost.StartAsync();
        await gateway.AdminPostAsync("admin/tokens", new { name = "ops", role = "owner" }, expected: 201);
        var items = (await gateway.AdminGetAsync("admin/audit?org=*"))["items"]!.AsArray();
        Assert.That(items.Select(e => e!["action"]!.GetValue<string>()), Does.Contain("token.create"));
    }
}
