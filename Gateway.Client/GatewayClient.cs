using System.Globalization;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization.Metadata;

namespace Gateway.Client;

/// <summary>
/// The gateway's admin API and verify call. Give it an <see cref="HttpClient"/> whose <see cref="HttpClient.BaseAddress"/>
/// is the admin listener (ending in <c>/</c>) and whose default <c>Authorization</c> is <c>Bearer &lt;token&gt;</c>, or use
/// <see cref="Create"/>. Every method maps to one operation (<see cref="GatewayOperationAttribute"/>); a problem answer
/// throws <see cref="GatewayApiException"/>. Thread-safe, like the <see cref="HttpClient"/> it wraps.
/// </summary>
/// <remarks>
/// Adding an endpoint: one method with <c>[GatewayOperation("METHOD", "/path/{param}")]</c> that calls
/// <see cref="SendAsync{T}"/>, and its types in <see cref="GatewayJsonContext"/>.
/// </remarks>
public sealed class GatewayClient(HttpClient http)
{
    private static readonly MediaTypeHeaderValue Json = new("application/json");

    /// <summary>A client for <paramref name="adminUrl"/> with <paramref name="token"/> (the admin token or a <c>gwa_</c> operator token).</summary>
    public static GatewayClient Create(Uri adminUrl, string token, HttpMessageHandler? handler = null)
    {
        ArgumentNullException.ThrowIfNull(adminUrl);
        var client = handler is null ? new HttpClient() : new HttpClient(handler, disposeHandler: false);
        client.BaseAddress = new Uri(adminUrl.ToString().TrimEnd('/') + "/");
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
        return new GatewayClient(client);
    }

    /// <summary>The underlying client (base address, default headers).</summary>
    public HttpClient Http => http;

    // Organizations

    [GatewayOperation("POST", "/admin/orgs")]
    public Task<Organization> CreateOrgAsync(CreateOrgRequest request, CancellationToken cancellationToken = default) =>
        SendAsync(HttpMethod.Post, "admin/orgs", Body(request, GatewayJsonContext.Default.CreateOrgRequest), GatewayJsonContext.Default.Organization, cancellationToken);

    [GatewayOperation("GET", "/admin/orgs")]
    public Task<Page<Organization>> ListOrgsAsync(CancellationToken cancellationToken = default) =>
        SendAsync(HttpMethod.Get, "admin/orgs", null, GatewayJsonContext.Default.PageOrganization, cancellationToken);

    [GatewayOperation("GET", "/admin/orgs/{org}")]
    public Task<Organization> GetOrgAsync(string org, CancellationToken cancellationToken = default) =>
        SendAsync(HttpMethod.Get, $"admin/orgs/{E(org)}", null, GatewayJsonContext.Default.Organization, cancellationToken);

    // Keys

    /// <returns>The key with its plaintext <see cref="ApiKey.Key"/>, shown this once.</returns>
    [GatewayOperation("POST", "/admin/orgs/{org}/keys")]
    public Task<ApiKey> CreateKeyAsync(string org, CreateKeyRequest request, CancellationToken cancellationToken = default) =>
        SendAsync(HttpMethod.Post, $"admin/orgs/{E(org)}/keys", Body(request, GatewayJsonContext.Default.CreateKeyRequest), GatewayJsonContext.Default.ApiKey, cancellationToken);

    [GatewayOperation("GET", "/admin/orgs/{org}/keys")]
    public Task<Page<ApiKey>> ListKeysAsync(string org, CancellationToken cancellationToken = default) =>
        SendAsync(HttpMethod.Get, $"admin/orgs/{E(org)}/keys", null, GatewayJsonContext.Default.PageApiKey, cancellationToken);

    [GatewayOperation("GET", "/admin/keys/{id}")]
    public Task<ApiKey> GetKeyAsync(string id, CancellationToken cancellationToken = default) =>
        SendAsync(HttpMethod.Get, $"admin/keys/{E(id)}", null, GatewayJsonContext.Default.ApiKey, cancellationToken);

    [GatewayOperation("PATCH", "/admin/keys/{id}")]
    public Task<ApiKey> UpdateKeyAsync(string id, KeyUpdate update, CancellationToken cancellationToken = default) =>
        SendAsync(HttpMethod.Patch, $"admin/keys/{E(id)}", PatchBody(update), GatewayJsonContext.Default.ApiKey, cancellationToken);

    /// <param name="gracePeriod">How long the old plaintext keeps working (null: it stops at once).</param>
    [GatewayOperation("POST", "/admin/keys/{id}/rotate")]
    public Task<ApiKey> RotateKeyAsync(string id, TimeSpan? gracePeriod = null, CancellationToken cancellationToken = default)
    {
        var body = new JsonObject();
        if (gracePeriod is { } grace)
        {
            body["gracePeriod"] = grace.ToString("c", CultureInfo.InvariantCulture);
        }

        return SendAsync(HttpMethod.Post, $"admin/keys/{E(id)}/rotate", Body(body), GatewayJsonContext.Default.ApiKey, cancellationToken);
    }

    [GatewayOperation("POST", "/admin/keys/{id}/deactivate")]
    public Task<ApiKey> DeactivateKeyAsync(string id, CancellationToken cancellationToken = default) =>
        SendAsync(HttpMethod.Post, $"admin/keys/{E(id)}/deactivate", null, GatewayJsonContext.Default.ApiKey, cancellationToken);

    [GatewayOperation("POST", "/admin/keys/{id}/activate")]
    public Task<ApiKey> ActivateKeyAsync(string id, CancellationToken cancellationToken = default) =>
        SendAsync(HttpMethod.Post, $"admin/keys/{E(id)}/activate", null, GatewayJsonContext.Default.ApiKey, cancellationToken);

    [GatewayOperation("POST", "/admin/keys/{id}/revoke")]
    public Task<ApiKey> RevokeKeyAsync(string id, CancellationToken cancellationToken = default) =>
        SendAsync(HttpMethod.Post, $"admin/keys/{E(id)}/revoke", null, GatewayJsonContext.Default.ApiKey, cancellationToken);

    [GatewayOperation("POST", "/admin/leaked-keys")]
    public Task<LeakedKeysResult> ReportLeakedKeysAsync(LeakedKeysRequest request, CancellationToken cancellationToken = default) =>
        SendAsync(HttpMethod.Post, "admin/leaked-keys", Body(request, GatewayJsonContext.Default.LeakedKeysRequest), GatewayJsonContext.Default.LeakedKeysResult, cancellationToken);

    // Audit, settings, usage

    [GatewayOperation("GET", "/admin/audit")]
    public Task<Page<AuditEntry>> ListAuditAsync(string org, int? limit = null, string? cursor = null, CancellationToken cancellationToken = default)
    {
        var path = $"admin/audit?org={E(org)}";
        path += limit is { } l ? "&limit=" + l.ToString(CultureInfo.InvariantCulture) : "";
        path += cursor is null ? "" : "&cursor=" + E(cursor);
        return SendAsync(HttpMethod.Get, path, null, GatewayJsonContext.Default.PageAuditEntry, cancellationToken);
    }

    [GatewayOperation("GET", "/admin/settings")]
    public Task<GatewaySettings> GetSettingsAsync(CancellationToken cancellationToken = default) =>
        SendAsync(HttpMethod.Get, "admin/settings", null, GatewayJsonContext.Default.GatewaySettings, cancellationToken);

    [GatewayOperation("GET", "/admin/keys/{id}/usage")]
    public Task<UsageReport> GetKeyUsageAsync(string id, UsageQuery? query = null, CancellationToken cancellationToken = default) =>
        SendAsync(HttpMethod.Get, $"admin/keys/{E(id)}/usage" + Query(query), null, GatewayJsonContext.Default.UsageReport, cancellationToken);

    [GatewayOperation("GET", "/admin/orgs/{org}/usage")]
    public Task<UsageReport> GetOrgUsageAsync(string org, UsageQuery? query = null, CancellationToken cancellationToken = default) =>
        SendAsync(HttpMethod.Get, $"admin/orgs/{E(org)}/usage" + Query(query), null, GatewayJsonContext.Default.UsageReport, cancellationToken);

    [GatewayOperation("GET", "/admin/usage/routes")]
    public Task<UsageReport> GetRouteUsageAsync(UsageQuery? query = null, CancellationToken cancellationToken = default) =>
        SendAsync(HttpMethod.Get, "admin/usage/routes" + Query(query), null, GatewayJsonContext.Default.UsageReport, cancellationToken);

    // Operator tokens

    /// <returns>The token with its plaintext <see cref="OperatorToken.Token"/>, shown this once.</returns>
    [GatewayOperation("POST", "/admin/tokens")]
    public Task<OperatorToken> CreateTokenAsync(CreateTokenRequest request, CancellationToken cancellationToken = default) =>
        SendAsync(HttpMethod.Post, "admin/tokens", Body(request, GatewayJsonContext.Default.CreateTokenRequest), GatewayJsonContext.Default.OperatorToken, cancellationToken);

    [GatewayOperation("GET", "/admin/tokens")]
    public Task<Page<OperatorToken>> ListTokensAsync(CancellationToken cancellationToken = default) =>
        SendAsync(HttpMethod.Get, "admin/tokens", null, GatewayJsonContext.Default.PageOperatorToken, cancellationToken);

    [GatewayOperation("POST", "/admin/tokens/{id}/revoke")]
    public Task<OperatorToken> RevokeTokenAsync(string id, CancellationToken cancellationToken = default) =>
        SendAsync(HttpMethod.Post, $"admin/tokens/{E(id)}/revoke", null, GatewayJsonContext.Default.OperatorToken, cancellationToken);

    [GatewayOperation("GET", "/admin/me")]
    public Task<Caller> GetMeAsync(CancellationToken cancellationToken = default) =>
        SendAsync(HttpMethod.Get, "admin/me", null, GatewayJsonContext.Default.Caller, cancellationToken);

    // Customers

    /// <param name="body">The create body (<c>id</c>, <c>name</c>, <c>plan</c>?, <c>rateLimit</c>?, <c>quota</c>?).</param>
    [GatewayOperation("POST", "/admin/orgs/{org}/customers")]
    public Task<Customer> CreateCustomerAsync(string org, JsonObject body, CancellationToken cancellationToken = default) =>
        SendAsync(HttpMethod.Post, $"admin/orgs/{E(org)}/customers", Body(body), GatewayJsonContext.Default.Customer, cancellationToken);

    [GatewayOperation("GET", "/admin/orgs/{org}/customers")]
    public Task<Page<Customer>> ListCustomersAsync(string org, CancellationToken cancellationToken = default) =>
        SendAsync(HttpMethod.Get, $"admin/orgs/{E(org)}/customers", null, GatewayJsonContext.Default.PageCustomer, cancellationToken);

    [GatewayOperation("GET", "/admin/orgs/{org}/customers/{id}")]
    public Task<Customer> GetCustomerAsync(string org, string id, CancellationToken cancellationToken = default) =>
        SendAsync(HttpMethod.Get, $"admin/orgs/{E(org)}/customers/{E(id)}", null, GatewayJsonContext.Default.Customer, cancellationToken);

    /// <param name="body">Members to change; a null <c>plan</c>, <c>rateLimit</c> or <c>quota</c> clears it.</param>
    [GatewayOperation("PATCH", "/admin/orgs/{org}/customers/{id}")]
    public Task<Customer> UpdateCustomerAsync(string org, string id, JsonObject body, CancellationToken cancellationToken = default) =>
        SendAsync(HttpMethod.Patch, $"admin/orgs/{E(org)}/customers/{E(id)}", Body(body), GatewayJsonContext.Default.Customer, cancellationToken);

    [GatewayOperation("DELETE", "/admin/orgs/{org}/customers/{id}")]
    public async Task DeleteCustomerAsync(string org, string id, CancellationToken cancellationToken = default)
    {
        using var response = await http.DeleteAsync($"admin/orgs/{E(org)}/customers/{E(id)}", cancellationToken).ConfigureAwait(false);
        if (!response.IsSuccessStatusCode)
        {
            throw await ErrorAsync(response, cancellationToken).ConfigureAwait(false);
        }
    }

    [GatewayOperation("GET", "/admin/orgs/{org}/customers/{id}/usage")]
    public Task<JsonElement> GetCustomerUsageAsync(string org, string id, UsageQuery? query = null, CancellationToken cancellationToken = default) =>
        SendAsync(HttpMethod.Get, $"admin/orgs/{E(org)}/customers/{E(id)}/usage{Query(query)}", null, GatewayJsonContext.Default.JsonElement, cancellationToken);

    /// <param name="op"><c>set</c>, <c>add</c> or <c>subtract</c>.</param>
    [GatewayOperation("POST", "/admin/keys/{id}/credits")]
    public Task<ApiKey> ChangeKeyCreditsAsync(string id, string op, long amount, CancellationToken cancellationToken = default) =>
        SendAsync(HttpMethod.Post, $"admin/keys/{E(id)}/credits", Body(new JsonObject { ["op"] = op, ["amount"] = amount }), GatewayJsonContext.Default.ApiKey, cancellationToken);

    // Verify

    /// <summary>What a proxied request with this key would get; a refusal is a result with <see cref="VerifyKeyResult.Code"/>, not an exception.</summary>
    [GatewayOperation("POST", "/v1/keys/verify")]
    public Task<VerifyKeyResult> VerifyKeyAsync(VerifyKeyRequest request, CancellationToken cancellationToken = default) =>
        SendAsync(HttpMethod.Post, "v1/keys/verify", Body(request, GatewayJsonContext.Default.VerifyKeyRequest), GatewayJsonContext.Default.VerifyKeyResult, cancellationToken);

    /// <summary>Sends one call and reads its JSON answer, or throws <see cref="GatewayApiException"/> for any other status.</summary>
    public async Task<T> SendAsync<T>(HttpMethod method, string path, HttpContent? content, JsonTypeInfo<T> answer, CancellationToken cancellationToken = default)
    {
        using var request = new HttpRequestMessage(method, path) { Content = content };
        using var response = await http.SendAsync(request, HttpCompletionOption.ResponseContentRead, cancellationToken).ConfigureAwait(false);
        if (!response.IsSuccessStatusCode)
        {
            throw await ErrorAsync(response, cancellationToken).ConfigureAwait(false);
        }

        return await response.Content.ReadFromJsonAsync(answer, cancellationToken).ConfigureAwait(false)
            ?? throw new GatewayApiException(response.StatusCode, "unexpected_response", "The gateway answered with an empty body.");
    }

    private static async Task<GatewayApiException> ErrorAsync(HttpResponseMessage response, CancellationToken cancellationToken)
    {
        var text = await response.Content.ReadAsStringAsync(cancellationToken).ConfigureAwait(false);
        ProblemDetails? problem = null;
        try
        {
            problem = text.Length == 0 ? null : JsonSerializer.Deserialize(text, GatewayJsonContext.Default.ProblemDetails);
        }
        catch (JsonException)
        {
            // Not problem+json (a proxy in between, a crash page): reported by status alone.
        }

        var code = problem?.Code ?? "unexpected_response";
        var message = problem?.Detail ?? problem?.Title ?? $"{(int)response.StatusCode} {response.ReasonPhrase}";
        return new GatewayApiException(response.StatusCode, code, $"{code}: {message}", problem?.Errors, problem?.RequestId);
    }

    private static JsonContent Body<T>(T value, JsonTypeInfo<T> type) => JsonContent.Create(value, type, Json);

    private static StringContent Body(JsonObject body) => new(body.ToJsonString(), System.Text.Encoding.UTF8, "application/json");

    private static StringContent PatchBody(KeyUpdate update)
    {
        ArgumentNullException.ThrowIfNull(update);
        var body = new JsonObject();
        Set(body, "name", update.Name);
        Set(body, "description", update.Description);
        if (update.Scopes is { } scopes)
        {
            body["scopes"] = Array(scopes);
        }

        if (update.ClearExpiresAt)
        {
            body["expiresAt"] = null;
        }
        else if (update.ExpiresAt is { } expires)
        {
            body["expiresAt"] = expires.ToString("O", CultureInfo.InvariantCulture);
        }

        if (update.ClearCustomerId)
        {
            body["customerId"] = null;
        }
        else
        {
            Set(body, "customerId", update.CustomerId);
        }

        if (update.ClearRateLimit)
        {
            body["rateLimit"] = null;
        }
        else if (update.RateLimit is { } limit)
        {
            body["rateLimit"] = new JsonObject { ["permitLimit"] = limit.PermitLimit, ["window"] = limit.Window };
        }

        if (update.AllowedCidrs is { } cidrs)
        {
            body["allowedCidrs"] = Array(cidrs);
        }

        return Body(body);
    }

    private static JsonArray Array(IReadOnlyList<string> values)
    {
        var array = new JsonArray();
        foreach (var value in values)
        {
            array.Add((JsonNode?)JsonValue.Create(value));
        }

        return array;
    }

    private static void Set(JsonObject body, string name, string? value)
    {
        if (value is not null)
        {
            body[name] = value;
        }
    }

    private static string Query(UsageQuery? query)
    {
        if (query is null)
        {
            return "";
        }

        var parts = new List<string>();
        if (query.From is { } from)
        {
            parts.Add("from=" + E(from.ToString("O", CultureInfo.InvariantCulture)));
        }

        if (query.To is { } to)
        {
            parts.Add("to=" + E(to.ToString("O", CultureInfo.InvariantCulture)));
        }

        if (query.Granularity is { } granularity)
        {
            parts.Add("granularity=" + E(granularity));
        }

        return parts.Count == 0 ? "" : "?" + string.Join('&', parts);
    }

    private static string E(string value) => Uri.EscapeDataString(value);
}
