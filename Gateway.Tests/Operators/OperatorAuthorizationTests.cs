using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Gateway.Admin;
using Gateway.Tests.Common;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;

namespace Gateway.Tests.Operators;

/// <summary>Role and organization decide every admin call: out of role 403 admin_forbidden, other organizations 404.</summary>
[TestFixtureSource(typeof(StoreKinds), nameof(StoreKinds.All))]
public sealed class OperatorAuthorizationTests(StoreKind store) : GatewayFixture(store)
{
    private string _acmeKey = null!;
    private string _otherKey = null!;

    [OneTimeSetUp]
    public async Task CreateOrgsAsync()
    {
        await Host.CreateOrgAsync("acme");
        await Host.CreateOrgAsync("other");
        _acmeKey = (await Host.CreateKeyAsync("acme", new { name = "a" }))["id"]!.GetValue<string>();
        _otherKey = (await Host.CreateKeyAsync("other", new { name = "o" }))["id"]!.GetValue<string>();
    }

    [Test]
    public async Task OrgScopedAdmin_SeesOnlyItsOrg_OtherOrgsObjectsAnswer404()
    {
        using var admin = await Host.OperatorAsync("acme-admin-" + Store, "admin", "acme");

        var orgs = (await admin.GetFromJsonAsync<JsonObject>("admin/orgs"))!;
        Assert.That(orgs["items"]!.AsArray().Select(o => o!["id"]!.GetValue<string>()), Is.EqualTo(new[] { "acme" }));

        foreach (var (method, path) in new[]
        {
            ("GET", "admin/orgs/other"),
            ("GET", "admin/orgs/other/keys"),
            ("POST", "admin/orgs/other/keys"),
            ("GET", $"admin/keys/{_otherKey}"),
            ("PATCH", $"admin/keys/{_otherKey}"),
            ("POST", $"admin/keys/{_otherKey}/revoke"),
            ("POST", $"admin/keys/{_otherKey}/rotate"),
            ("GET", $"admin/keys/{_otherKey}/usage"),
            ("GET", "admin/orgs/other/usage"),
            ("GET", "admin/audit?org=other"),
        })
        {
            using var request = new HttpRequestMessage(new HttpMethod(method), path);
            if (method != "GET")
            {
                request.Content = JsonContent.Create(new { name = "x" });
            }

            using var response = await admin.SendAsync(request);
            Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.NotFound), $"{method} {path}");
            Assert.That((await GatewayHost.ProblemAsync(response))["code"]!.GetValue<string>(), Is.EqualTo("not_found"));
        }

        var otherKey = await Host.AdminGetAsync($"admin/keys/{_otherKey}");
        Assert.That(otherKey["status"]!.GetValue<string>(), Is.EqualTo("active"), "nothing happened to the other org's key");

        using (var own = await admin.GetAsync($"admin/keys/{_acmeKey}"))
        {
            Assert.That(own.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        }

        using (var ownAudit = await admin.GetAsync("admin/audit?org=acme"))
        {
            Assert.That(ownAudit.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        }

        foreach (var (method, path) in new[] { ("POST", "admin/orgs"), ("GET", "admin/usage/routes"), ("POST", "admin/leaked-keys"), ("GET", "admin/tokens") })
        {
            using var request = new HttpRequestMessage(new HttpMethod(method), path);
            if (method == "POST")
            {
                request.Content = JsonContent.Create(new { id = "x" });
            }

            using var response = await admin.SendAsync(request);
            Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.Forbidden), $"{method} {path}");
            Assert.That(response.Content.Headers.ContentType?.MediaType, Is.EqualTo("application/problem+json"));
            Assert.That((await GatewayHost.ProblemAsync(response))["code"]!.GetValue<string>(), Is.EqualTo("admin_forbidden"));
        }
    }

    [Test]
    public async Task Viewer_ReadsButCannotWrite403()
    {
        using var viewer = await Host.OperatorAsync("viewer-" + Store, "viewer", "acme");
        using (var read = await viewer.GetAsync($"admin/orgs/acme/keys"))
        {
            Assert.That(read.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        }

        using var write = await viewer.PostAsync($"admin/keys/{_acmeKey}/deactivate", null);
        Assert.That(write.StatusCode, Is.EqualTo(HttpStatusCode.Forbidden));
        Assert.That((await GatewayHost.ProblemAsync(write))["code"]!.GetValue<string>(), Is.EqualTo("admin_forbidden"));
        Assert.That((await Host.AdminGetAsync($"admin/keys/{_acmeKey}"))["status"]!.GetValue<string>(), Is.EqualTo("active"));
    }

    [Test]
    public async Task OrgScopedOwner_ManagesOnlyItsOrgsTokens()
    {
        using var owner = await Host.OperatorAsync("acme-owner-" + Store, "owner", "acme");
        var otherToken = await Host.CreateTokenAsync("other-viewer-" + Store, "viewer", "other");
        var globalToken = await Host.CreateTokenAsync("global-viewer-" + Store, "viewer");

        using (var orgLess = await owner.PostAsJsonAsync("admin/tokens", new { name = "x1", role = "viewer" }))
        {
            Assert.That(orgLess.StatusCode, Is.EqualTo(HttpStatusCode.Forbidden), "only bootstrap or an org-less owner makes org-less tokens");
        }

        using (var otherOrg = await owner.PostAsJsonAsync("admin/tokens", new { name = "x2", role = "viewer", org = "other" }))
        {
            Assert.That(otherOrg.StatusCode, Is.EqualTo(HttpStatusCode.NotFound));
        }

        var made = await Host.CreateTokenAsync("acme-viewer2-" + Store, "viewer", "acme", by: owner);
        Assert.That(made["createdBy"]!.GetValue<string>(), Is.EqualTo("acme-owner-" + Store));

        var listed = (await owner.GetFromJsonAsync<JsonObject>("admin/tokens"))!;
        Assert.That(listed["items"]!.AsArray().Select(t => t!["org"]?.GetValue<string>()), Is.All.EqualTo("acme"));

        foreach (var id in new[] { otherToken["id"]!.GetValue<string>(), globalToken["id"]!.GetValue<string>() })
        {
            using var revoke = await owner.PostAsync($"admin/tokens/{id}/revoke", null);
            Assert.That(revoke.StatusCode, Is.EqualTo(HttpStatusCode.NotFound));
        }

        using var stillWorks = Host.ClientWith(otherToken["token"]!.GetValue<string>());
        using var call = await stillWorks.GetAsync("admin/orgs/other");
        Assert.That(call.StatusCode, Is.EqualTo(HttpStatusCode.OK));
    }

    [Test]
    public async Task OrgLessOwner_CreatesOrgLessTokens_AdminCannotTouchTokens()
    {
        using var owner = await Host.OperatorAsync("root-owner-" + Store, "owner");
        await Host.CreateTokenAsync("root-viewer-" + Store, "viewer", by: owner);

        using var admin = await Host.OperatorAsync("root-admin-" + Store, "admin");
        using var refused = await admin.PostAsJsonAsync("admin/tokens", new { name = "x3", role = "viewer" });
        Assert.That(refused.StatusCode, Is.EqualTo(HttpStatusCode.Forbidden));
    }
}

/// <summary>An admin endpoint that declares no rule is for the bootstrap token only.</summary>
public sealed class AdminAuthorizationFailClosedTests
{
    [Test]
    public async Task EndpointWithoutRule_RefusedToEveryOperatorToken_BootstrapPasses()
    {
        await using var gateway = await GatewayHost.StartAsync(services: s => s.AddSingleton<IAdminApi, UnruledApi>());
        using (var bootstrap = await gateway.Admin.GetAsync("admin/unruled"))
        {
            Assert.That(bootstrap.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        }

        foreach (var role in new[] { "verifier", "viewer", "admin", "owner" })
        {
            using var client = await gateway.OperatorAsync("op-" + role, role);
            using var response = await client.GetAsync("admin/unruled");
            Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.Forbidden), role);
        }
    }

    private sealed class UnruledApi : IAdminApi
    {
        public void Map(RouteGroupBuilder admin) => admin.MapGet("/unruled", () => "ok");
    }
}

/// <summary>An operator token cannot be checked while the store is down: 503, never a 500, and the bootstrap token still works.</summary>
public sealed class OperatorStoreDownTests
{
    [Test]
    public async Task OperatorToken_StoreUnavailable_Answers503StoreUnavailable()
    {
        await using var gateway = await GatewayHost.StartAsync(services: s => s.AddSingleton<Gateway.Operators.IOperatorTokenStore, DownStore>());
        using var client = gateway.ClientWith("gwa_" + new string('a', 40));
        using var response = await client.GetAsync("admin/orgs");
        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.ServiceUnavailable));
        Assert.That((await GatewayHost.ProblemAsync(response))["code"]!.GetValue<string>(), Is.EqualTo("store_unavailable"));
        using var bootstrap = await gateway.Admin.GetAsync("admin/orgs");
        Assert.That(bootstrap.StatusCode, Is.EqualTo(HttpStatusCode.OK));
    }

    private sealed class DownStore : Gateway.Operators.IOperatorTokenStore
    {
        private static Gateway.Stores.StoreUnavailableException Down() => new Gateway.Stores.StoreUnavailableException("down");

        public Task CreateAsync(Gateway.Operators.OperatorToken token, Gateway.Domain.AuditEntry audit, CancellationToken cancellationToken) => throw Down();

        public Task<Gateway.Operators.OperatorToken?> FindByHashAsync(string hash, CancellationToken cancellationToken) => throw Down();

        public Task<Gateway.Operators.OperatorToken?> GetAsync(string id, CancellationToken cancellationToken) => throw Down();

        public Task<IReadOnlyList<Gateway.Operators.OperatorToken>> ListAsync(CancellationToken cancellationToken) => throw Down();

        public Task<IReadOnlyList<Gateway.Operators.OperatorToken>> ListAfterAsync(string? org, Gateway.Stores.TimeIdPosition? after, int? count, CancellationToken cancellationToken) => throw Down();

        public Task<Gateway.Operators.OperatorToken?> RevokeAsync(string id, DateTimeOffset at, Func<Gateway.Operators.OperatorToken, Gateway.Domain.AuditEntry> audit, CancellationToken cancellationToken) => throw Down();

        public Task RecordUseAsync(string id, DateTimeOffset at, CancellationToken cancellationToken) => throw Down();
    }
}
