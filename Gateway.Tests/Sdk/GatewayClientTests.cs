using System.Net;
using System.Net.Http.Json;
using System.Reflection;
using System.Text.Json.Nodes;
using Gateway.Client;
using Gateway.Tests.Common;

namespace Gateway.Tests.Sdk;

/// <summary>Gateway.Client against a running gateway: every OpenAPI operation has a method, and the methods work.</summary>
public sealed class GatewayClientTests : GatewayFixture
{
    protected override string OrgPrefix => "sdkc";

    [Test]
    public async Task OpenApiDocument_EveryOperation_HasExactlyOneClientMethod()
    {
        var document = (await Host.Admin.GetFromJsonAsync<JsonObject>("openapi/v1.json"))!;
        var operations = document["paths"]!.AsObject()
            .SelectMany(p => p.Value!.AsObject().Select(m => $"{m.Key.ToUpperInvariant()} {p.Key}"))
            .ToList();
        var methods = typeof(GatewayClient).GetMethods(BindingFlags.Public | BindingFlags.Instance)
            .Select(m => m.GetCustomAttribute<GatewayOperationAttribute>())
            .OfType<GatewayOperationAttribute>()
            .Select(a => $"{a.Method} {a.Path}")
            .ToList();

        Assert.Multiple(() =>
        {
            Assert.That(operations, Is.Not.Empty);
            Assert.That(operations.Except(methods), Is.Empty, "operations without a GatewayClient method ([GatewayOperation])");
            Assert.That(methods.Except(operations), Is.Empty, "client methods for operations the gateway does not have");
            Assert.That(methods, Is.Unique);
        });
    }

    [Test]
    public async Task Client_ManagesKeysAndVerifies_ProblemsThrowGatewayApiExceptionWithCode()
    {
        var gateway = GatewayClient.Create(Host.AdminUrl, GatewayHost.AdminToken);
        using var http = gateway.Http;
        var org = await gateway.CreateOrgAsync(new CreateOrgRequest(OrgPrefix + "-1"));
        var key = await gateway.CreateKeyAsync(org.Id, new CreateKeyRequest("svc") { Scopes = ["read"], ExpiresAt = DateTimeOffset.UtcNow.AddDays(1) });
        var updated = await gateway.UpdateKeyAsync(key.Id, new KeyUpdate { Description = "updated", ClearExpiresAt = true });
        var verified = await gateway.VerifyKeyAsync(new VerifyKeyRequest(key.Key!) { Scopes = ["read"] });
        var listed = await gateway.ListKeysAsync(org.Id);

        Assert.Multiple(() =>
        {
            Assert.That(org.DefaultKey?.Key, Does.StartWith("gw_live_"));
            Assert.That(key.Key, Does.StartWith("gw_live_"));
            Assert.That(updated.Description, Is.EqualTo("updated"));
            Assert.That(updated.ExpiresAt, Is.Null);
            Assert.That(verified.Valid, Is.True);
            Assert.That(verified.KeyId, Is.EqualTo(key.Id));
            Assert.That(listed.Items.Select(k => k.Name), Is.EquivalentTo(new[] { "default", "svc" }));
        });

        var missing = Assert.ThrowsAsync<GatewayApiException>(() => gateway.GetKeyAsync("key_missing"));
        Assert.That((missing!.Status, missing.Code), Is.EqualTo((HttpStatusCode.NotFound, "not_found")));

        var invalid = Assert.ThrowsAsync<GatewayApiException>(() => gateway.CreateKeyAsync(org.Id, new CreateKeyRequest("bad name!") { Scopes = ["nope"] }));
        Assert.Multiple(() =>
        {
            Assert.That(invalid!.Status, Is.EqualTo(HttpStatusCode.BadRequest));
            Assert.That(invalid.Code, Is.EqualTo("invalid_request"));
            Assert.That(invalid.Errors.Keys, Is.SupersetOf(new[] { "name", "scopes" }));
        });

        await gateway.RevokeKeyAsync(key.Id);
        Assert.That((await gateway.VerifyKeyAsync(new VerifyKeyRequest(key.Key!))).Code, Is.EqualTo("key_revoked"));
    }
}
