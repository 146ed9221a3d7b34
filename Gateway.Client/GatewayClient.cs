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

    /// <summary>Every organization (nextCursor null).</summary>
    public Task<Page<Organization>> ListOrgsAsync(CancellationToken cancellationToken = default) =>
        ListOrgsAsync(null, null, cancellationToken);

    /// <param name="limit">At most this many (1 to 1000) and a <see cref="Page{T}.NextCursor"/> when there are more; null: every one.</param>
    /// <param name="cursor">The previous page's <see cref="Page{T}.NextCursor"/>.</param>
    [GatewayOperation("GET", "/admin/orgs")]
    public Task<Page<Organization>> ListOrgsAsync(int? limit, string? cursor, CancellationToken cancellationToken = default) =>
        SendAsync(HttpMethod.Get, "admin/orgs" + PageQuery(limit, cursor), null, GatewayJsonContext.Default.PageOrganization, cancellationToken);

    [GatewayOperation("GET", "/admin/orgs/{org}")]
    public Task<Organization> GetOrgAsync(string org, CancellationToken cancellationToken = default) =>
        SendAsync(HttpMethod.Get, $"admin/orgs/{E(org)}", null, GatewayJsonContext.Default.Organization, cancellationToken);

    // Keys

    /// <returns>The key with its plaintext <see cref="ApiKey.Key"/>, shown this once.</returns>
    [GatewayOperation("POST", "/admin/orgs/{org}/keys")]
    public Task<ApiKey> CreateKeyAsync(string org, CreateKeyRequest request, CancellationToken cancellationToken = default) =>
        SendAsync(HttpMethod.Post, $"admin/orgs/{E(org)}/keys", Body(request, GatewayJsonContext.Default.CreateKeyRequest), GatewayJsonContext.Default.ApiKey, cancellationToken);

    /// <summary>Every key of the organization (nextCursor null).</summary>
    public Task<Page<ApiKey>> ListKeysAsync(string org, CancellationToken cancellationToken = default) =>
        ListKeysAsync(org, null, null, cancellationToken);

    /// <param name="org">The organization.</param>
    /// <param name="limit">At most this many (1 to 1000) and a <see cref="Page{T}.NextCursor"/> when there are more; null: every one.</param>
    /// <param name="cursor">The previous page's <see cref="Page{T}.NextCursor"/>.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    [GatewayOperation("GET", "/admin/orgs/{org}/keys")]
    public Task<Page<ApiKey>> ListKeysAsync(string org, int? limit, string? cursor, CancellationToken cancellationToken = default) =>
        SendAsync(HttpMethod.Get, $"admin/orgs/{E(org)}/keys" + PageQuery(limit, cursor), null, GatewayJsonContext.Default.PageApiKey, cancellationToken);

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

    /// <summary>Every operator token the caller may see (nextCursor null).</summary>
    public Task<Page<OperatorToken>> ListTokensAsync(CancellationToken cancellationToken = default) =>
        ListTokensAsync(null, null, cancellationToken);

    /// <param name="limit">At most this many (1 to 1000) and a <see cref="Page{T}.NextCursor"/> when there are more; null: every one.</param>
    /// <param name="cursor">The previous page's <see cref="Page{T}.NextCursor"/>.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    [GatewayOperation("GET", "/admin/tokens")]
    public Task<Page<OperatorToken>> ListTokensAsync(int? limit, string? cursor, CancellationToken cancellationToken = default) =>
        SendAsync(HttpMethod.Get, "admin/tokens" + PageQuery(limit, cursor), null, GatewayJsonContext.Default.PageOperatorToken, cancellationToken);

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

    /// <summary>Every customer of the organization (nextCursor null).</summary>
    public Task<Page<Customer>> ListCustomersAsync(string org, CancellationToken cancellationToken = default) =>
        ListCustomersAsync(org, null, null, cancellationToken);

    /// <param name="org">The organization.</param>
    /// <param name="limit">At most this many (1 to 1000) and a <see cref="Page{T}.NextCursor"/> when there are more; null: every one.</param>
    /// <param name="cursor">The previous page's <see cref="Page{T}.NextCursor"/>.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    [GatewayOperation("GET", "/admin/orgs/{org}/customers")]
    public Task<Page<Customer>> ListCustomersAsync(string org, int? limit, string? cursor, CancellationToken cancellationToken = default) =>
        SendAsync(HttpMethod.Get, $"admin/orgs/{E(org)}/customers" + PageQuery(limit, cursor), null, GatewayJsonContext.Default.PageCustomer, cancellationToken);

    [GatewayOperation("GET", "/admin/orgs/{org}/customers/{id}")]
    public Task<Customer> GetCustomerAsync(string org, string id, CancellationToken cancellationToken = default) =>
        SendAsync(HttpMethod.Get, $"admin/orgs/{E(org)}/customers/{E(id)}", null, GatewayJsonContext.Default.Customer, cancellationToken);

    /// <param name="body">Members to change; a null <c>plan</c>, <c>rateLimit</c> or <c>quota</c> clears it.</param>
    [GatewayOperation("PATCH", "/admin/orgs/{org}/customers/{id}")]
    public Task<Customer> UpdateCustomerAsync(string org, string id, JsonObject body, CancellationToken cancellationToken = default) =>
        SendAsync(HttpMethod.Patch, $"admin/orgs/{E(org)}/customers/{E(id)}", Body(body), GatewayJsonContext.Default.Customer, cancellationToken);

    [GatewayOperation("DELETE", "/admin/orgs/{org}/customers/{id}")]
    public Task DeleteCustomerAsync(string org, string id, CancellationToken cancellationToken = default) =>
        SendAsync(HttpMethod.Delete, $"admin/orgs/{E(org)}/customers/{E(id)}", null, cancellationToken);

    [GatewayOperation("GET", "/admin/orgs/{org}/customers/{id}/usage")]
    public Task<JsonElement> GetCustomerUsageAsync(string org, string id, UsageQuery? query = null, CancellationToken cancellationToken = default) =>
        SendAsync(HttpMethod.Get, $"admin/orgs/{E(org)}/customers/{E(id)}/usage{Query(query)}", null, GatewayJsonContext.Default.JsonElement, cancellationToken);

    /// <param name="op"><c>set</c>, <c>add</c> or <c>subtract</c>.</param>
    [GatewayOperation("POST", "/admin/keys/{id}/credits")]
    public Task<ApiKey> ChangeKeyCreditsAsync(string id, string op, long amount, CancellationToken cancellationToken = default) =>
        SendAsync(HttpMethod.Post, $"admin/keys/{E(id)}/credits", Body(new JsonObject { ["op"] = op, ["amount"] = amount }), GatewayJsonContext.Default.ApiKey, cancellationToken);

    // Request log

    /// <summary>An organization's logged requests, newest first; <see cref="RequestLogPage.Next"/> continues the read.</summary>
    [GatewayOperation("GET", "/admin/orgs/{org}/requests")]
    public Task<RequestLogPage> ListRequestsAsync(string org, RequestLogQuery? query = null, CancellationToken cancellationToken = default) =>
        SendAsync(HttpMethod.Get, $"admin/orgs/{E(org)}/requests" + Query(query), null, GatewayJsonContext.Default.RequestLogPage, cancellationToken);

    /// <summary>Requests refused before an organization was known (no key, an unknown key); tokens without an organization only.</summary>
    [GatewayOperation("GET", "/admin/requests")]
    public Task<RequestLogPage> ListUnattributedRequestsAsync(RequestLogQuery? query = null, CancellationToken cancellationToken = default) =>
        SendAsync(HttpMethod.Get, "admin/requests" + Query(query), null, GatewayJsonContext.Default.RequestLogPage, cancellationToken);

    /// <param name="requestId">The id of a gateway answer (its <c>X-Request-Id</c>, or a problem's <c>requestId</c>).</param>
    [GatewayOperation("GET", "/admin/requests/{requestId}")]
    public Task<LoggedRequest> GetRequestAsync(string requestId, CancellationToken cancellationToken = default) =>
        SendAsync(HttpMethod.Get, $"admin/requests/{E(requestId)}", null, GatewayJsonContext.Default.LoggedRequest, cancellationToken);

    // Webhooks

    /// <returns>The webhook with its signing <see cref="Webhook.Secret"/>, shown this once.</returns>
    [GatewayOperation("POST", "/admin/orgs/{org}/webhooks")]
    public Task<Webhook> CreateWebhookAsync(string org, CreateWebhookRequest request, CancellationToken cancellationToken = default) =>
        SendAsync(HttpMethod.Post, $"admin/orgs/{E(org)}/webhooks", Body(request, GatewayJsonContext.Default.CreateWebhookRequest), GatewayJsonContext.Default.Webhook, cancellationToken);

    /// <summary>Every webhook of the organization (nextCursor null).</summary>
    public Task<Page<Webhook>> ListWebhooksAsync(string org, CancellationToken cancellationToken = default) =>
        ListWebhooksAsync(org, null, null, cancellationToken);

    /// <param name="org">The organization.</param>
    /// <param name="limit">At most this many (1 to 1000) and a <see cref="Page{T}.NextCursor"/> when there are more; null: every one.</param>
    /// <param name="cursor">The previous page's <see cref="Page{T}.NextCursor"/>.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    [GatewayOperation("GET", "/admin/orgs/{org}/webhooks")]
    public Task<Page<Webhook>> ListWebhooksAsync(string org, int? limit, string? cursor, CancellationToken cancellationToken = default) =>
        SendAsync(HttpMethod.Get, $"admin/orgs/{E(org)}/webhooks" + PageQuery(limit, cursor), null, GatewayJsonContext.Default.PageWebhook, cancellationToken);

    [GatewayOperation("GET", "/admin/webhooks/{id}")]
    public Task<Webhook> GetWebhookAsync(string id, CancellationToken cancellationToken = default) =>
        SendAsync(HttpMethod.Get, $"admin/webhooks/{E(id)}", null, GatewayJsonContext.Default.Webhook, cancellationToken);

    [GatewayOperation("PATCH", "/admin/webhooks/{id}")]
    public Task<Webhook> UpdateWebhookAsync(string id, WebhookUpdate update, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(update);
        var body = new JsonObject();
        Set(body, "url", update.Url);
        if (update.Events is { } events)
        {
            body["events"] = Array(events);
        }

        if (update.ClearDescription)
        {
            body["description"] = null;
        }
        else
        {
            Set(body, "description", update.Description);
        }

        if (update.Enabled is { } enabled)
        {
            body["enabled"] = enabled;
        }

        return SendAsync(HttpMethod.Patch, $"admin/webhooks/{E(id)}", Body(body), GatewayJsonContext.Default.Webhook, cancellationToken);
    }

    /// <summary>Deletes the webhook; its pending deliveries are not sent.</summary>
    [GatewayOperation("DELETE", "/admin/webhooks/{id}")]
    public Task DeleteWebhookAsync(string id, CancellationToken cancellationToken = default) =>
        SendAsync(HttpMethod.Delete, $"admin/webhooks/{E(id)}", null, cancellationToken);

    /// <param name="id">The webhook.</param>
    /// <param name="limit">How many, newest first (the gateway's default 50, at most 1000).</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    public Task<Page<WebhookDelivery>> ListWebhookDeliveriesAsync(string id, int? limit = null, CancellationToken cancellationToken = default) =>
        ListWebhookDeliveriesAsync(id, limit, null, cancellationToken);

    /// <param name="id">The webhook.</param>
    /// <param name="limit">How many, newest first (the gateway's default 50, at most 1000); <see cref="Page{T}.NextCursor"/> when older ones are kept.</param>
    /// <param name="cursor">The previous page's <see cref="Page{T}.NextCursor"/>: the deliveries older than that page's.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    [GatewayOperation("GET", "/admin/webhooks/{id}/deliveries")]
    public Task<Page<WebhookDelivery>> ListWebhookDeliveriesAsync(string id, int? limit, string? cursor, CancellationToken cancellationToken = default) =>
        SendAsync(HttpMethod.Get, $"admin/webhooks/{E(id)}/deliveries" + PageQuery(limit, cursor), null, GatewayJsonContext.Default.PageWebhookDelivery, cancellationToken);

    /// <summary>Sends the delivery again now (same <c>webhook-id</c>), whatever its status; 409 while the webhook is disabled.</summary>
    [GatewayOperation("POST", "/admin/webhooks/{id}/deliveries/{delivery}/retry")]
    public Task<WebhookDelivery> RetryWebhookDeliveryAsync(string id, string delivery, CancellationToken cancellationToken = default) =>
        SendAsync(HttpMethod.Post, $"admin/webhooks/{E(id)}/deliveries/{E(delivery)}/retry", null, GatewayJsonContext.Default.WebhookDelivery, cancellationToken);

    // Console sign-in

    [GatewayOperation("GET", "/admin/auth/providers")]
    public Task<AuthProviders> GetAuthProvidersAsync(CancellationToken cancellationToken = default) =>
        SendAsync(HttpMethod.Get, "admin/auth/providers", null, GatewayJsonContext.Default.AuthProviders, cancellationToken);

    /// <summary>
    /// The address a <em>browser</em> opens to start the OpenID Connect sign-in; nothing is sent. The sign-in cannot run
    /// through this client: the gateway answers with a redirect to the provider and sets the correlation and nonce
    /// cookies (and keeps the PKCE verifier) on whoever follows it, so only the browser that later returns to the
    /// callback can complete it.
    /// </summary>
    /// <param name="returnUrl">A console path (<c>/console…</c>) to land on afterwards; other values are refused with 400.</param>
    [GatewayOperation("GET", "/admin/auth/oidc/login")]
    public Uri GetOidcLoginUrl(string? returnUrl = null)
    {
        var baseAddress = http.BaseAddress ?? throw new InvalidOperationException("The HttpClient has no BaseAddress (the admin listener's URL).");
        return new Uri(baseAddress, "admin/auth/oidc/login" + (returnUrl is null ? "" : "?returnUrl=" + E(returnUrl)));
    }

    /// <summary>Ends the console session this client's cookies hold (send its CSRF header too); a token caller has no session and gets the same success.</summary>
    [GatewayOperation("POST", "/admin/auth/signout")]
    public Task SignOutAsync(CancellationToken cancellationToken = default) =>
        SendAsync(HttpMethod.Post, "admin/auth/signout", null, cancellationToken);

    // Verify

    /// <summary>What a proxied request with this key would get; a refusal is a result with <see cref="VerifyKeyResult.Code"/>, not an exception.</summary>
    [GatewayOperation("POST", "/v1/keys/verify")]
    public Task<VerifyKeyResult> VerifyKeyAsync(VerifyKeyRequest request, CancellationToken cancellationToken = default) =>
        SendAsync(HttpMethod.Post, "v1/keys/verify", Body(request, GatewayJsonContext.Default.VerifyKeyRequest), GatewayJsonContext.Default.VerifyKeyResult, cancellationToken);

    /// <summary>
    /// Sends one call and reads its JSON answer, or throws <see cref="GatewayApiException"/> for any other status, and
    /// (code <c>unexpected_response</c>) for a success whose body is not that JSON.
    /// </summary>
    public async Task<T> SendAsync<T>(HttpMethod method, string path, HttpContent? content, JsonTypeInfo<T> answer, CancellationToken cancellationToken = default)
    {
        using var request = new HttpRequestMessage(method, path) { Content = content };
        using var response = await http.SendAsync(request, HttpCompletionOption.ResponseContentRead, cancellationToken).ConfigureAwait(false);
        await ThrowIfFailedAsync(response, cancellationToken).ConfigureAwait(false);
        T? result;
        try
        {
            result = await response.Content.ReadFromJsonAsync(answer, cancellationToken).ConfigureAwait(false);
        }
        catch (JsonException ex)
        {
            // A success that is not the API's JSON: a wrong base address, a captive proxy's HTML page.
            throw new GatewayApiException(response.StatusCode, "unexpected_response", $"unexpected_response: the gateway's {(int)response.StatusCode} answer was not the expected JSON ({ex.Message})");
        }

        return result ?? throw new GatewayApiException(response.StatusCode, "unexpected_response", "The gateway answered with an empty body.");
    }

    /// <summary>Sends one call whose answer has no body (a delete), or throws <see cref="GatewayApiException"/> for a status that is not a success.</summary>
    public async Task SendAsync(HttpMethod method, string path, HttpContent? content, CancellationToken cancellationToken = default)
    {
        using var request = new HttpRequestMessage(method, path) { Content = content };
        using var response = await http.SendAsync(request, cancellationToken).ConfigureAwait(false);
        await ThrowIfFailedAsync(response, cancellationToken).ConfigureAwait(false);
    }

    private static async Task ThrowIfFailedAsync(HttpResponseMessage response, CancellationToken cancellationToken)
    {
        if (!response.IsSuccessStatusCode)
        {
            throw await ErrorAsync(response, cancellationToken).ConfigureAwait(false);
        }
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

    private static string Query(RequestLogQuery? query)
    {
        if (query is null)
        {
            return "";
        }

        var parts = new List<string>();
        void Add(string name, string? value)
        {
            if (value is not null)
            {
                parts.Add(name + "=" + E(value));
            }
        }

        Add("keyId", query.KeyId);
        Add("customerId", query.CustomerId);
        Add("status", query.Status?.ToString(CultureInfo.InvariantCulture));
        Add("code", query.Code);
        Add("from", query.From?.ToString("O", CultureInfo.InvariantCulture));
        Add("to", query.To?.ToString("O", CultureInfo.InvariantCulture));
        Add("limit", query.Limit?.ToString(CultureInfo.InvariantCulture));
        Add("cursor", query.Cursor);
        return parts.Count == 0 ? "" : "?" + string.Join('&', parts);
    }

    private static string PageQuery(int? limit, string? cursor)
    {
        var query = limit is { } l ? "?limit=" + l.ToString(CultureInfo.InvariantCulture) : "";
        return cursor is null ? query : query + (query.Length == 0 ? "?" : "&") + "cursor=" + E(cursor);
    }

    private static string E(string value) => Uri.EscapeDataString(value);
}
