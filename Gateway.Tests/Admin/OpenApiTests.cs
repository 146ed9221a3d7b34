using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using Gateway.Tests.Common;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;

namespace Gateway.Tests.Admin;

/// <summary>
/// The admin API's OpenAPI document (<c>/openapi/v1.json</c> on the admin listener): every admin endpoint is
/// in it, real responses of a real gateway match the schema it declares for their route and status, and the
/// proxy listener never serves it.
/// </summary>
public sealed class OpenApiTests : GatewayFixture
{
    private JsonObject _document = null!;

    /// <summary>No routes: the proxy listener has nothing to serve.</summary>
    protected override Dictionary<string, string?> Settings(string upstream) => [];

    [OneTimeSetUp]
    public async Task ReadDocumentAsync()
    {
        using var anonymous = new HttpClient { BaseAddress = Host.AdminUrl };
        using var response = await anonymous.GetAsync("openapi/v1.json");
        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK), "served without the admin token");
        _document = (JsonNode.Parse(await response.Content.ReadAsStringAsync()) as JsonObject)!;
    }

    [Test]
    public void Document_Served_IsOpenApi3WithTheAdminTokenScheme()
    {
        Assert.That(_document["openapi"]!.GetValue<string>(), Does.StartWith("3."));
        Assert.That(_document["components"]!["securitySchemes"]!["adminToken"]!["scheme"]!.GetValue<string>(), Is.EqualTo("bearer"));
        Assert.That(_document["security"]![0]!.AsObject().ContainsKey("adminToken"), Is.True);
    }

    [Test]
    public void Document_EveryAdminEndpoint_IsListedWithItsMethod()
    {
        var endpoints = Host.Services.GetRequiredService<EndpointDataSource>().Endpoints
            .OfType<RouteEndpoint>()
            .Where(e => e.RoutePattern.RawText is { } raw && (raw.StartsWith("/admin", StringComparison.Ordinal) || raw.StartsWith("/v1/", StringComparison.Ordinal)))
            .Where(e => e.Metadata.GetMetadata<IExcludeFromDescriptionMetadata>() is not { ExcludeFromDescription: true })
            .SelectMany(e => e.Metadata.GetMetadata<HttpMethodMetadata>()!.HttpMethods.Select(m => (Path: e.RoutePattern.RawText!.TrimEnd('/'), Method: m.ToLowerInvariant())))
            .ToList();
        var documented = Paths().SelectMany(p => p.Value!.AsObject().Select(o => (Path: p.Key, Method: o.Key))).ToList();

        Assert.That(endpoints, Has.Count.GreaterThanOrEqualTo(17), "the admin API's endpoints were found");
        Assert.That(documented, Is.EquivalentTo(endpoints), "the document lists exactly the admin endpoints");
    }

    [Test]
    public void Document_EveryOperation_DeclaresItsProblemResponses()
    {
        foreach (var (path, operations) in Paths())
        {
            foreach (var (method, operation) in operations!.AsObject())
            {
                var responses = operation!["responses"]!.AsObject();
                // Signing in needs no token (and touches no store): only the admin IP limit can refuse it before its handler.
                var expected = path.StartsWith("/admin/auth/", StringComparison.Ordinal) ? new List<string> { "429" } : ["401", "429", "503"];
                if (operation["requestBody"] is not null)
                {
                    expected.AddRange(["400", "413"]);
                    Assert.That(operation["requestBody"]!["content"]!["application/json"]!["schema"], Is.Not.Null, $"{method} {path} body schema");
                }

                foreach (var status in expected)
                {
                    Assert.That(responses[status]?["content"]?["application/problem+json"]?["schema"], Is.Not.Null, $"{method} {path} {status}");
                }

                Assert.That(responses.Select(r => r.Key), Has.Some.Matches<string>(s => s.StartsWith('2') || s.StartsWith('3')), $"{method} {path} success (or a redirect)");
            }
        }
    }

    /// <summary>The query parameters each endpoint reads by hand; a trailing '!' marks a required one.</summary>
    [TestCase("/admin/audit", "get", "org!,limit,cursor,action,key")]
    [TestCase("/admin/keys/{id}/usage", "get", "from,to,granularity")]
    [TestCase("/admin/orgs/{org}/usage", "get", "from,to,granularity")]
    [TestCase("/admin/usage/routes", "get", "from,to,granularity")]
    [TestCase("/admin/orgs/{org}/customers/{id}/usage", "get", "from,to,granularity")]
    [TestCase("/admin/orgs/{org}/requests", "get", "keyId,customerId,status,code,from,to,limit,cursor")]
    [TestCase("/admin/requests", "get", "keyId,customerId,status,code,from,to,limit,cursor")]
    [TestCase("/admin/requests/{requestId}", "get", "org")]
    [TestCase("/admin/webhooks/{id}/deliveries", "get", "limit,cursor")]
    [TestCase("/admin/orgs", "get", "limit,cursor")]
    [TestCase("/admin/orgs/{org}/keys", "get", "limit,cursor")]
    [TestCase("/admin/orgs/{org}/customers", "get", "limit,cursor")]
    [TestCase("/admin/tokens", "get", "limit,cursor")]
    [TestCase("/admin/orgs/{org}/webhooks", "get", "limit,cursor")]
    [TestCase("/admin/auth/oidc/login", "get", "returnUrl")]
    public void Document_QueryParameters_AreDeclared(string path, string method, string expected)
    {
        var operation = Paths()[path]![method]!;
        var declared = (operation["parameters"]?.AsArray() ?? [])
            .Where(p => p!["in"]!.GetValue<string>() == "query")
            .Select(p => p!["name"]!.GetValue<string>() + (p["required"]?.GetValue<bool>() == true ? "!" : ""))
            .ToList();

        Assert.That(declared, Is.EquivalentTo(expected.Split(',')), $"{method} {path}");
        foreach (var parameter in operation["parameters"]!.AsArray().Where(p => p!["in"]!.GetValue<string>() == "query"))
        {
            Assert.That(parameter!["schema"]?["type"], Is.Not.Null, $"{method} {path} ?{parameter["name"]} has a schema");
        }
    }

    [TestCase("/admin/orgs/{org}/webhooks", "post", "url,events,description", "url,events")]
    [TestCase("/admin/webhooks/{id}", "patch", "url,events,description,enabled", "")]
    public void Document_WebhookBodies_ListTheirMembers(string path, string method, string members, string required)
    {
        var body = Paths()[path]![method]!["requestBody"];
        Assert.That(body, Is.Not.Null, $"{method} {path} declares its body");
        var schema = Resolve(body!["content"]!["application/json"]!["schema"]!.AsObject());

        Assert.That(schema["properties"]!.AsObject().Select(p => p.Key), Is.EquivalentTo(members.Split(',')));
        Assert.That((schema["required"]?.AsArray() ?? []).Select(r => r!.GetValue<string>()), Is.EquivalentTo(required.Split(',', StringSplitOptions.RemoveEmptyEntries)));
        var events = Resolve(schema["properties"]!["events"]!.AsObject());
        Assert.That(events["type"]!.ToJsonString(), Does.Contain("array"));
        Assert.That(Resolve(events["items"]!.AsObject())["enum"]!.AsArray().Select(e => e!.GetValue<string>()), Does.Contain("key.created").And.Contain("credits.exhausted"));
    }

    [Test]
    public void Document_OperationsWithoutToken_HaveNoSecurityRequirement()
    {
        string[] open = ["GetAuthProviders", "OidcLogin", "SignOut"];
        var operations = Paths().SelectMany(p => p.Value!.AsObject().Select(o => o.Value!.AsObject())).ToList();
        foreach (var id in open)
        {
            var operation = operations.Single(o => o["operationId"]?.GetValue<string>() == id);
            Assert.That(operation["security"]?.ToJsonString(), Is.EqualTo("[]"), $"{id} needs no admin token");
        }

        Assert.That(operations.Where(o => !open.Contains(o["operationId"]?.GetValue<string>())).Select(o => o["security"]), Is.All.Null, "every other operation inherits the token");
    }

    [Test]
    public async Task Responses_KeyLifecycle_MatchTheDeclaredSchemas()
    {
        var org = await CheckedAsync(HttpMethod.Post, "admin/orgs", 201, new JsonObject { ["id"] = "oa-life", ["name"] = "Lifecycle" });
        var created = await CheckedAsync(HttpMethod.Post, "admin/orgs/oa-life/keys", 201, new JsonObject
        {
            ["name"] = "svc",
            ["scopes"] = new JsonArray("read"),
            ["description"] = "checked against the document",
            ["expiresAt"] = DateTimeOffset.UtcNow.AddDays(30).ToString("O", CultureInfo.InvariantCulture),
            ["customerId"] = "cust-1",
            ["rateLimit"] = new JsonObject { ["permitLimit"] = 100, ["window"] = "00:01:00" },
            ["allowedCidrs"] = new JsonArray("10.0.0.0/8"),
        });
        var id = created["id"]!.GetValue<string>();
        Assert.That(org["defaultKey"]!["key"], Is.Not.Null, "the create response carries the default key");

        await CheckedAsync(HttpMethod.Get, "admin/orgs", 200);
        await CheckedAsync(HttpMethod.Get, "admin/orgs/oa-life", 200);
        await CheckedAsync(HttpMethod.Get, "admin/orgs/oa-life/keys", 200);
        await CheckedAsync(HttpMethod.Get, $"admin/keys/{id}", 200);
        await CheckedAsync(HttpMethod.Patch, $"admin/keys/{id}", 200, new JsonObject { ["description"] = null, ["rateLimit"] = null, ["scopes"] = new JsonArray("read", "write") });
        await CheckedAsync(HttpMethod.Post, $"admin/keys/{id}/rotate", 200, new JsonObject { ["gracePeriod"] = "00:10:00" });
        await CheckedAsync(HttpMethod.Post, $"admin/keys/{id}/deactivate", 200);
        await CheckedAsync(HttpMethod.Post, $"admin/keys/{id}/activate", 200);
        await CheckedAsync(HttpMethod.Post, $"admin/keys/{id}/revoke", 200);
        var audit = await CheckedAsync(HttpMethod.Get, "admin/audit?org=oa-life&limit=2", 200);
        Assert.That(audit["nextCursor"], Is.Not.Null, "a page with a cursor was checked");
        await CheckedAsync(HttpMethod.Get, "admin/audit?org=oa-life", 200);
        await CheckedAsync(HttpMethod.Get, $"admin/keys/{id}/usage", 200);
        await CheckedAsync(HttpMethod.Get, "admin/orgs/oa-life/usage?granularity=day", 200);
        await CheckedAsync(HttpMethod.Get, "admin/usage/routes", 200);
        await CheckedAsync(HttpMethod.Get, "admin/settings", 200);
        await CheckedAsync(HttpMethod.Post, "admin/leaked-keys", 200, new JsonObject { ["tokens"] = new JsonArray(created["key"]!.GetValue<string>(), "not-a-key"), ["source"] = "log" });
    }

    [Test]
    public async Task Responses_Errors_MatchTheDeclaredProblemSchemas()
    {
        await CheckedAsync(HttpMethod.Post, "admin/orgs", 201, new JsonObject { ["id"] = "oa-errors" });

        var missing = await CheckedAsync(HttpMethod.Get, "admin/keys/key_missing", 404);
        Assert.That(missing["code"]!.GetValue<string>(), Is.EqualTo("not_found"));
        await CheckedAsync(HttpMethod.Get, "admin/orgs/nobody/keys", 404);
        await CheckedAsync(HttpMethod.Get, "admin/keys/key_missing/usage", 404);

        var invalid = await CheckedAsync(HttpMethod.Post, "admin/orgs/oa-errors/keys", 400, new JsonObject { ["name"] = "bad name!", ["colour"] = "red" }, checkRequest: false);
        Assert.That(invalid["errors"]!.AsObject().Select(e => e.Key), Is.EquivalentTo(new[] { "name", "colour" }));
        await CheckedAsync(HttpMethod.Get, "admin/audit", 400);
        await CheckedAsync(HttpMethod.Get, "admin/usage/routes?granularity=week", 400);

        var conflict = await CheckedAsync(HttpMethod.Post, "admin/orgs", 409, new JsonObject { ["id"] = "oa-errors" });
        Assert.That(conflict["field"]!.GetValue<string>(), Is.EqualTo("id"));
        var defaultKey = (await Host.AdminGetAsync("admin/orgs/oa-errors/keys"))["items"]![0]!["id"]!.GetValue<string>();
        await CheckedAsync(HttpMethod.Post, $"admin/keys/{defaultKey}/revoke", 409);

        await CheckedAsync(HttpMethod.Post, "admin/leaked-keys", 413, new JsonObject { ["tokens"] = new JsonArray(new string('x', 70_000)) });
        await CheckedAsync(HttpMethod.Get, "admin/orgs", 401, token: false);
    }

    [Test]
    public async Task Document_OnProxyListener_IsNotServed()
    {
        using var upstream = Upstream.Start();
        await using var gateway = await GatewayHost.StartAsync(GatewayHost.Routes(upstream.Url, ("all", "/{**rest}", [])));

        var key = (await gateway.CreateOrgAsync("oa-proxy"))["defaultKey"]!["key"]!.GetValue<string>();

        using var anonymous = await gateway.CallAsync("/openapi/v1.json", key: null);
        using var authenticated = await gateway.CallAsync("/openapi/v1.json", key);

        // The proxy listener has no document of its own: the path is an ordinary proxied path there.
        Assert.That(anonymous.StatusCode, Is.EqualTo(HttpStatusCode.Unauthorized));
        Assert.That(authenticated.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        Assert.That(upstream.Received.Select(r => r.RequestMessage.Path), Is.EqualTo(new[] { "/openapi/v1.json" }));
        Assert.That(await authenticated.Content.ReadAsStringAsync(), Does.Not.Contain("\"openapi\""));
    }

    [Test]
    public async Task Document_OnProxyListenerWithoutRoutes_IsNotFound()
    {
        using var response = await Host.Proxy.GetAsync("openapi/v1.json");

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.NotFound));
        Assert.That((await GatewayHost.ProblemAsync(response))["code"]!.GetValue<string>(), Is.EqualTo("no_route"));
    }

    private JsonObject Paths() => _document["paths"]!.AsObject();

    private JsonObject Resolve(JsonObject schema) => schema["$ref"] is { } reference
        ? _document["components"]!["schemas"]![reference.GetValue<string>().Replace("#/components/schemas/", "", StringComparison.Ordinal)]!.AsObject()
        : schema;

    /// <summary>
    /// Sends the request, checks its status, its body against the declared request schema and the response
    /// against the schema the document declares for the route, status and content type.
    /// </summary>
    private async Task<JsonObject> CheckedAsync(HttpMethod method, string url, int status, JsonObject? body = null, bool token = true, bool checkRequest = true)
    {
        var path = "/" + url.Split('?')[0];
        var (template, operation) = Operation(path, method.Method.ToLowerInvariant());
        using var request = new HttpRequestMessage(method, url);
        if (body is not null)
        {
            request.Content = new StringContent(body.ToJsonString(), Encoding.UTF8, "application/json");
            if (checkRequest)
            {
                var requestSchema = operation["requestBody"]?["content"]?["application/json"]?["schema"];
                Assert.That(requestSchema, Is.Not.Null, $"{method} {template} declares its body");
                AssertMatches(body, requestSchema!.AsObject(), $"{method} {template} request");
            }
        }

        using var client = token ? null : new HttpClient { BaseAddress = Host.AdminUrl };
        using var response = await (client ?? Host.Admin).SendAsync(request);
        var text = await response.Content.ReadAsStringAsync();
        Assert.That((int)response.StatusCode, Is.EqualTo(status), $"{method} {url}: {text}");

        var mediaType = response.Content.Headers.ContentType!.MediaType!;
        var declared = operation["responses"]?[status.ToString(CultureInfo.InvariantCulture)];
        Assert.That(declared, Is.Not.Null, $"{method} {template} declares {status}");
        var schema = declared!["content"]?[mediaType]?["schema"];
        Assert.That(schema, Is.Not.Null, $"{method} {template} {status} declares {mediaType}");
        var json = JsonNode.Parse(text)!.AsObject();
        AssertMatches(json, schema!.AsObject(), $"{method} {template} {status}");
        return json;
    }

    private (string Template, JsonObject Operation) Operation(string path, string method)
    {
        var segments = path.Split('/');
        var match = Paths()
            .Where(p => p.Value!.AsObject().ContainsKey(method))
            .Select(p => (Template: p.Key, Parts: p.Key.Split('/')))
            .Where(p => p.Parts.Length == segments.Length && p.Parts.Zip(segments).All(s => s.First.StartsWith('{') || s.First == s.Second))
            .OrderBy(p => p.Parts.Count(s => s.StartsWith('{')))
            .Select(p => p.Template)
            .FirstOrDefault();
        Assert.That(match, Is.Not.Null, $"no {method} {path} in the document");
        return (match!, Paths()[match!]![method]!.AsObject());
    }

    private void AssertMatches(JsonNode? value, JsonObject schema, string where)
    {
        var failures = new JsonSchemaCheck(_document).Check(value, schema, "$");
        Assert.That(failures, Is.Empty, $"{where}: {value?.ToJsonString()}");
    }
}

/// <summary>
/// Enough JSON Schema for the admin document: $ref, oneOf, type (one or a list, 3.1 style, or 3.0's nullable),
/// enum, format date-time, properties, required, items and additionalProperties. Stricter than JSON Schema on
/// one point: an object member the schema does not declare is a failure, so the document lists everything sent.
/// </summary>
internal sealed class JsonSchemaCheck(JsonObject document)
{
    public List<string> Check(JsonNode? value, JsonObject schema, string path)
    {
        var failures = new List<string>();
        Visit(value, schema, path, failures);
        return failures;
    }

    private void Visit(JsonNode? value, JsonObject schema, string path, List<string> failures)
    {
        if (schema["$ref"] is { } reference)
        {
            var name = reference.GetValue<string>().Replace("#/components/schemas/", "", StringComparison.Ordinal);
            if (document["components"]?["schemas"]?[name] is not JsonObject target)
            {
                failures.Add($"{path}: unresolved $ref {reference}");
                return;
            }

            Visit(value, target, path, failures);
            return;
        }

        if (schema["oneOf"] is JsonArray alternatives)
        {
            var results = alternatives.Select(a => Check(value, a!.AsObject(), path)).ToList();
            var matching = results.Count(r => r.Count == 0);
            if (matching != 1)
            {
                failures.Add($"{path}: matches {matching} of the oneOf alternatives, not exactly one");
                failures.AddRange(results.SelectMany(r => r));
            }

            return;
        }

        var kind = Kind(value);
        if (schema["type"] is { } type)
        {
            var allowed = type is JsonArray list ? list.Select(t => t!.GetValue<string>()).ToList() : [type.GetValue<string>()];
            if (schema["nullable"]?.GetValue<bool>() == true)
            {
                allowed.Add("null");
            }

            if (!allowed.Contains(kind) && !(kind == "integer" && allowed.Contains("number")))
            {
                failures.Add($"{path}: {kind}, declared {string.Join(" or ", allowed)}");
                return;
            }
        }

        if (schema["enum"] is JsonArray values && !values.Any(v => JsonNode.DeepEquals(v, value)))
        {
            failures.Add($"{path}: {value?.ToJsonString()} is not one of {values.ToJsonString()}");
        }

        switch (value)
        {
            case JsonValue when kind == "string" && schema["format"]?.GetValue<string>() == "date-time"
                && !DateTimeOffset.TryParse(value.GetValue<string>(), CultureInfo.InvariantCulture, DateTimeStyles.None, out _):
                failures.Add($"{path}: '{value}' is not a date-time");
                break;
            case JsonArray array when schema["items"] is JsonObject items:
                for (var i = 0; i < array.Count; i++)
                {
                    Visit(array[i], items, $"{path}[{i}]", failures);
                }

                break;
            case JsonObject obj:
                CheckObject(obj, schema, path, failures);
                break;
        }
    }

    private void CheckObject(JsonObject value, JsonObject schema, string path, List<string> failures)
    {
        var properties = schema["properties"] as JsonObject;
        foreach (var required in schema["required"]?.AsArray() ?? [])
        {
            if (!value.ContainsKey(required!.GetValue<string>()))
            {
                failures.Add($"{path}: required member '{required}' is missing");
            }
        }

        foreach (var (name, member) in value)
        {
            if (properties?[name] is JsonObject declared)
            {
                Visit(member, declared, $"{path}.{name}", failures);
            }
            else if (schema["additionalProperties"] is JsonObject additional)
            {
                Visit(member, additional, $"{path}.{name}", failures);
            }
            else if (schema["additionalProperties"] is JsonValue open && open.GetValue<bool>())
            {
                continue;
            }
            else if (properties is not null || schema["additionalProperties"] is not null)
            {
                failures.Add($"{path}: member '{name}' is not declared");
            }
        }
    }

    private static string Kind(JsonNode? value) => value switch
    {
        null => "null",
        JsonObject => "object",
        JsonArray => "array",
        JsonValue v when v.GetValueKind() == System.Text.Json.JsonValueKind.String => "string",
        JsonValue v when v.GetValueKind() is System.Text.Json.JsonValueKind.True or System.Text.Json.JsonValueKind.False => "boolean",
        JsonValue v when decimal.Parse(v.ToJsonString(), NumberStyles.Float, CultureInfo.InvariantCulture) % 1 == 0 => "integer",
        _ => "number",
    };
}
