using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Gateway.Tests.Common;

namespace Gateway.Tests.Operators;

/// <summary>Creates operator tokens through the admin API and clients that carry them.</summary>
internal static class OperatorClients
{
    /// <returns>The created token object, with the plaintext <c>token</c>.</returns>
    public static async Task<JsonObject> CreateTokenAsync(this GatewayHost gateway, string name, string role, string? org = null, HttpClient? by = null)
    {
        using var response = await (by ?? gateway.Admin).PostAsJsonAsync("admin/tokens", new { name, role, org });
        await gateway.Expect(response, 201);
        return JsonNode.Parse(await response.Content.ReadAsStringAsync())!.AsObject();
    }

    public static HttpClient ClientWith(this GatewayHost gateway, string token)
    {
        var client = new HttpClient(new SocketsHttpHandler { UseCookies = false }) { BaseAddress = gateway.AdminUrl };
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
        return client;
    }

    public static async Task<HttpClient> OperatorAsync(this GatewayHost gateway, string name, string role, string? org = null) =>
        gateway.ClientWith((await gateway.CreateTokenAsync(name, role, org))["token"]!.GetValue<string>());
}
