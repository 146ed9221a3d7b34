using System.Net;
using System.Text.Json.Nodes;
using Gateway.Cli;
using Gateway.Tests.Common;
using Gateway.Tests.Webhooks;

namespace Gateway.Tests.Cli;

/// <summary>The CLI against a real gateway's admin listener.</summary>
public sealed class AdminCliTests : GatewayFixture
{
    protected override Dictionary<string, string?> Settings(string upstream)
    {
        var settings = GatewayHost.Routes(upstream, ("api", "/api/{**rest}", [("RequiredScopes", "write")]));

        // Webhooks to a loopback receiver over http, polled often, so deliveries are seen within a test.
        foreach (var (name, value) in WebhookDeliveryTests.FastSettings())
        {
            settings[name] = value;
        }

        return settings;
    }

    [Test]
    public async Task Cli_FullLifecycle_ChangesWhatTheProxyAccepts()
    {
        var org = await RunOkAsync("orgs", "create", "cli_org", "--name", "CLI org");
        Assert.That(org.DefaultKey(), Does.StartWith("gw_live_"));

        var created = await RunOkAsync("keys", "create", "--org", "cli_org", "--name", "deployer", "--scope", "read", "--scope", "write", "--customer-id", "c7", "--rate-limit", "30", "--rate-window", "00:00:10", "--actor", "ops-bot");
        var key = created.Str("key");
        var id = created.Str("id");
        Assert.That(created["scopes"]!.ToJsonString(), Is.EqualTo("[\"read\",\"write\"]"));
        Assert.That(created["rateLimit"]!["permitLimit"]!.GetValue<int>(), Is.EqualTo(30));
        Assert.That(await Host.StatusAsync(key), Is.EqualTo(HttpStatusCode.OK));

        var updated = await RunOkAsync("keys", "update", id, "--scope", "read", "--no-customer");
        Assert.That(updated["customerId"], Is.Null);

        // The API's object as the API writes it: its null members are printed too (expiresAt, lastUsedAt, ...).
        var printed = await RunOkAsync("keys", "get", id);
        var fromApi = await Host.AdminGetAsync($"admin/keys/{id}");
        Assert.That(printed.AsObject().Select(p => p.Key), Is.SupersetOf(fromApi.AsObject().Select(p => p.Key)), printed.ToJsonString());
        Assert.That(printed.AsObject().ContainsKey("expiresAt") && printed["expiresAt"] is null, Is.True, "a null member is printed as null");
        Assert.That(await Host.StatusAsync(key), Is.EqualTo(HttpStatusCode.Forbidden));

        var rotated = await RunOkAsync("keys", "rotate", id, "--grace-period", "00:05:00");
        Assert.That(rotated["previousKeyExpiresAt"], Is.Not.Null);

        await RunOkAsync("keys", "revoke", id);
        using (var refused = await Host.CallAsync("/api/x", rotated.Str("key")))
        {
            Assert.That((await GatewayHost.ProblemAsync(refused)).Str("code"), Is.EqualTo("key_revoked"));
        }

        var list = await RunOkAsync("keys", "list", "--org", "cli_org");
        Assert.That(list["items"]!.AsArray().Select(k => k!.Str("status")), Is.EquivalentTo(new[] { "active", "revoked" }));
        Assert.That(list.ToJsonString(), Does.Not.Contain(key));

        var audit = await RunOkAsync("audit", "--org", "cli_org", "--limit", "10");
        var actions = audit["items"]!.AsArray().Select(e => e!.Str("action")).ToList();
        Assert.That(actions, Is.EqualTo(new[] { "key.revoke", "key.rotate", "key.update", "key.create", "org.create" }));
        Assert.That(audit["items"]![3]!.Str("actor"), Is.EqualTo("ops-bot"));
    }

    [Test]
    public async Task Cli_Tokens_CreateUseListRevoke()
    {
        await RunOkAsync("orgs", "create", "cli_tok");
        var created = await RunOkAsync("tokens", "create", "--name", "cli-viewer", "--role", "viewer", "--org", "cli_tok");
        var token = created.Str("token");
        Assert.That(token, Does.StartWith("gwa_"));

        var (readCode, readOutput, readError) = await RunWithAsync(Host.AdminUrl.ToString(), token, "orgs", "list");
        Assert.That(readCode, Is.Zero, readError);
        Assert.That(JsonNode.Parse(readOutput)!["items"]!.AsArray().Select(o => o!.Str("id")), Is.EqualTo(new[] { "cli_tok" }));

        var (writeCode, _, writeError) = await RunWithAsync(Host.AdminUrl.ToString(), token, "keys", "create", "--org", "cli_tok", "--name", "k");
        Assert.That(writeCode, Is.EqualTo(1));
        Assert.That(writeError, Does.Contain("403").And.Contain("admin_forbidden"));

        var list = await RunOkAsync("tokens", "list");
        Assert.That(list["items"]!.AsArray().Select(t => t!.Str("name")), Does.Contain("cli-viewer"));
        Assert.That(list.ToJsonString(), Does.Not.Contain(token));

        var revoked = await RunOkAsync("tokens", "revoke", created.Str("id"));
        Assert.That(revoked.Str("status"), Is.EqualTo("revoked"));
        var (afterCode, _, afterError) = await RunWithAsync(Host.AdminUrl.ToString(), token, "orgs", "list");
        Assert.That(afterCode, Is.EqualTo(1));
        Assert.That(afterError, Does.Contain("401"));
    }

    [Test]
    public async Task Cli_InvalidInput_PrintsProblemAndExits1()
    {
        await RunOkAsync("orgs", "create", "cli_bad");

        var (code, output, error) = await RunAsync("keys", "create", "--org", "cli_bad", "--name", "bad-name", "--scope", "nope");

        Assert.That(code, Is.EqualTo(1));
        Assert.That(output, Is.Empty);
        Assert.That(error, Does.Contain("400").And.Contain("\"name\"").And.Contain("\"scopes\""));
    }

    [Test]
    public async Task Cli_WrongToken_Exits1AndUnreachable_Exits2()
    {
        var (code, _, error) = await RunWithAsync(Host.AdminUrl.ToString(), "wrong-token-0000000000", "orgs", "list");
        Assert.That(code, Is.EqualTo(1));
        Assert.That(error, Does.Contain("401"));

        var (unreachable, _, message) = await RunWithAsync("http://127.0.0.1:1", GatewayHost.AdminToken, "orgs", "list");
        Assert.That(unreachable, Is.EqualTo(2));
        Assert.That(message, Does.Contain("Cannot reach"));
    }

    [Test]
    public async Task Cli_Customers_CreateListGetUpdateDelete()
    {
        await RunOkAsync("orgs", "create", "cli_cust");
        var created = await RunOkAsync("customers", "create", "--org", "cli_cust", "cust-1", "--name", "First", "--quota", "500", "--quota-period", "day", "--rate-limit", "5", "--rate-window", "00:00:01");
        Assert.That(created["quota"]!["limit"]!.GetValue<long>(), Is.EqualTo(500));
        Assert.That(created["rateLimit"]!["permitLimit"]!.GetValue<int>(), Is.EqualTo(5));

        var list = await RunOkAsync("customers", "list", "--org", "cli_cust");
        Assert.That(list["items"]!.AsArray().Select(c => c!["id"]!.GetValue<string>()), Is.EqualTo(new[] { "cust-1" }));

        var updated = await RunOkAsync("customers", "update", "--org", "cli_cust", "cust-1", "--name", "Renamed", "--no-quota");
        Assert.That(updated["name"]!.GetValue<string>(), Is.EqualTo("Renamed"));
        Assert.That(updated["quota"], Is.Null);
        Assert.That((await RunOkAsync("customers", "get", "--org", "cli_cust", "cust-1"))["name"]!.GetValue<string>(), Is.EqualTo("Renamed"));

        var (code, _, error) = await RunAsync("customers", "delete", "--org", "cli_cust", "cust-1");
        Assert.That(code, Is.Zero, error);
        var (missing, _, _) = await RunAsync("customers", "get", "--org", "cli_cust", "cust-1");
        Assert.That(missing, Is.EqualTo(1));
    }

    [Test]
    public async Task Cli_WebhooksAndRequests_CreateListDeliveriesRetryDelete_ListRequestsFiltered()
    {
        using var receiver = new WebhookReceiver();
        await RunOkAsync("orgs", "create", "cli_hooks");
        var hook = await RunOkAsync("webhooks", "create", "--org", "cli_hooks", "--url", receiver.Url, "--event", "key.created", "--event", "key.revoked", "--description", "ops");
        var hookId = hook.Str("id");
        Assert.That(hook.Str("secret"), Does.StartWith("whsec_"));
        Assert.That(hook["events"]!.ToJsonString(), Is.EqualTo("[\"key.created\",\"key.revoked\"]"));

        var listed = await RunOkAsync("webhooks", "list", "--org", "cli_hooks");
        Assert.That(listed["items"]!.AsArray().Select(w => w!.Str("id")), Is.EqualTo(new[] { hookId }));
        Assert.That(listed.ToJsonString(), Does.Not.Contain(hook.Str("secret")));

        var key = await RunOkAsync("keys", "create", "--org", "cli_hooks", "--name", "writer", "--scope", "write");
        var deliveries = await Eventually.ValueAsync(
            () => RunOkAsync("webhooks", "deliveries", hookId, "--limit", "5"),
            d => d["items"]!.AsArray() is [{ } only] && only.Str("status") == "delivered",
            TimeSpan.FromSeconds(20),
            "the key.created delivery");
        var deliveryId = deliveries["items"]![0]!.Str("id");
        Assert.That(deliveries["items"]![0]!.Str("type"), Is.EqualTo("key.created"));

        var retried = await RunOkAsync("webhooks", "retry", hookId, deliveryId);
        Assert.That((retried.Str("id"), retried.Str("status")), Is.EqualTo((deliveryId, "pending")));
        await Eventually.HoldsAsync(() => receiver.Posts.Count == 2, TimeSpan.FromSeconds(15), "the retried delivery");

        var deleted = await RunOkAsync("webhooks", "delete", hookId);
        Assert.That(deleted.Str("deleted"), Is.EqualTo(hookId));
        Assert.That((await RunOkAsync("webhooks", "list", "--org", "cli_hooks"))["items"]!.AsArray(), Is.Empty);
        var (missing, _, missingError) = await RunAsync("webhooks", "deliveries", hookId);
        Assert.That(missing, Is.EqualTo(1));
        Assert.That(missingError, Does.Contain("404"));

        Assert.That(await Host.StatusAsync(key.Str("key"), "/api/a"), Is.EqualTo(HttpStatusCode.OK));
        Assert.That(await Host.StatusAsync(key.Str("key"), "/api/b"), Is.EqualTo(HttpStatusCode.OK));
        var requests = await Eventually.ValueAsync(
            () => RunOkAsync("requests", "list", "--org", "cli_hooks", "--key-id", key.Str("id"), "--status", "200"),
            r => r["items"]!.AsArray().Count == 2,
            TimeSpan.FromSeconds(15),
            "two logged requests");
        Assert.That(requests["items"]!.AsArray().Select(r => r!.Str("path")), Is.EqualTo(new[] { "/api/b", "/api/a" }));

        var page = await RunOkAsync("requests", "list", "--org", "cli_hooks", "--key-id", key.Str("id"), "--limit", "1");
        Assert.That(page["items"]!.AsArray().Select(r => r!.Str("path")), Is.EqualTo(new[] { "/api/b" }));
        var next = await RunOkAsync("requests", "list", "--org", "cli_hooks", "--key-id", key.Str("id"), "--limit", "1", "--cursor", page.Str("next"));
        Assert.That(next["items"]!.AsArray().Select(r => r!.Str("path")), Is.EqualTo(new[] { "/api/a" }));

        var one = await RunOkAsync("requests", "get", page["items"]![0]!.Str("requestId"));
        Assert.That((one.Str("orgId"), one.Str("path")), Is.EqualTo(("cli_hooks", "/api/b")));

        var (tableCode, table, tableError) = await RunAsync("requests", "list", "--org", "cli_hooks", "--limit", "1", "--output", "table");
        Assert.That(tableCode, Is.Zero, tableError);
        Assert.That(table, Does.StartWith("TIME").And.Contain("REQUESTID").And.Contain("/api/b").And.Contain("more: --cursor"));
    }

    [Test]
    public async Task Cli_MistypedCommand_RefusedInsteadOfStartingAGateway()
    {
        Assert.That(AdminCli.Handles(["key", "list", "--org", "acme"]), Is.True, "a bare word is a command, if an unknown one");
        Assert.That(AdminCli.Handles(["--Gateway:Store:Path", "x.db"]), Is.False, "settings still start the gateway");
        Assert.That(AdminCli.Handles(["Gateway:Store:Path=x.db"]), Is.False);
        Assert.That(AdminCli.Handles([]), Is.False);
        using var output = new StringWriter();
        using var error = new StringWriter();
        var code = await AdminCli.RunAsync(["key", "list", "--org", "acme"], output, error);

        Assert.That(code, Is.EqualTo(1));
        Assert.That(error.ToString(), Does.Contain("Unrecognized command or argument 'key'"));
    }

    [Test]
    public async Task Cli_Help_PrintsUsageInsteadOfStarting()
    {
        Assert.That(AdminCli.Handles(["--help"]), Is.True, "Program hands --help to the CLI, not to the gateway's start-up");
        using var output = new StringWriter();
        using var error = new StringWriter();
        var code = await AdminCli.RunAsync(["--help"], output, error);

        Assert.That(code, Is.Zero, error.ToString());
        Assert.That(output.ToString(), Does.Contain("Usage:").And.Contain("keys").And.Contain("verify").And.Contain("--json"));
    }

    [Test]
    public async Task Cli_OutputFormats_JsonHasPlainTimestamps_TableHasColumns()
    {
        var org = await NewOrgAsync();
        var (code, json, error) = await RunAsync("keys", "list", "--org", org, "--json");
        Assert.That(code, Is.Zero, error);
        Assert.Multiple(() =>
        {
            Assert.That(json, Does.Not.Contain("\\u002B"), "timestamps as text");
            Assert.That(json, Does.Match("\"createdAt\": \"\\d{4}-\\d{2}-\\d{2}T[^\"]*\\+00:00\""));
            Assert.That(JsonNode.Parse(json)!["items"]!.AsArray(), Has.Count.EqualTo(1));
        });

        var (tableCode, table, tableError) = await RunAsync("keys", "list", "--org", org, "--output", "table");
        Assert.That(tableCode, Is.Zero, tableError);
        var lines = table.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Multiple(() =>
        {
            Assert.That(lines[0], Does.StartWith("ID").And.Contain("NAME").And.Contain("STATUS"));
            Assert.That(lines[1], Does.Contain("default").And.Contain("active"));
            Assert.That(table, Does.Not.Contain("{"), "no JSON in a table");
        });

        var key = (await Host.CreateKeyAsync(org, new { name = "checked" })).Str("key");
        var verified = await RunOkAsync("verify", key);
        Assert.That(verified["valid"]!.GetValue<bool>(), Is.True);
    }

    [Test]
    public async Task Cli_Json_IsTheApisJsonMemberForMember()
    {
        using var receiver = new WebhookReceiver();
        const string org = "cli_same";
        await RunOkAsync("orgs", "create", org);
        await RunOkAsync("tokens", "create", "--name", "cli-same", "--role", "viewer", "--org", org);
        // An event this test never causes, so no delivery changes the webhook between the two reads.
        await RunOkAsync("webhooks", "create", "--org", org, "--url", receiver.Url, "--event", "key.revoked");
        await RunOkAsync("customers", "create", "--org", org, "cust-same");
        var key = await RunOkAsync("keys", "create", "--org", org, "--name", "caller", "--scope", "write", "--customer-id", "cust-same");
        Assert.That(await Host.StatusAsync(key.Str("key"), "/api/same"), Is.EqualTo(HttpStatusCode.OK));
        var logged = await Eventually.ValueAsync(
            () => Host.AdminGetAsync($"admin/orgs/{org}/requests?limit=50"),
            r => r["items"]!.AsArray().Count == 1,
            TimeSpan.FromSeconds(15),
            "the logged request");
        var requestId = logged["items"]![0]!.Str("requestId");

        (string[] Command, string Path)[] reads =
        [
            (["orgs", "get", org], $"admin/orgs/{org}"),
            (["orgs", "list"], "admin/orgs"),
            (["tokens", "list"], "admin/tokens"),
            (["webhooks", "list", "--org", org], $"admin/orgs/{org}/webhooks"),
            (["requests", "list", "--org", org], $"admin/orgs/{org}/requests?limit=50"),
            (["requests", "get", requestId], $"admin/requests/{requestId}"),
            (["keys", "list", "--org", org], $"admin/orgs/{org}/keys"),
            (["keys", "get", key.Str("id")], $"admin/keys/{key.Str("id")}"),
            (["customers", "list", "--org", org], $"admin/orgs/{org}/customers"),
            (["customers", "get", "--org", org, "cust-same"], $"admin/orgs/{org}/customers/cust-same"),
            (["audit", "--org", org], $"admin/audit?org={org}&limit=50"),
        ];
        var answers = new List<(string Command, JsonObject Printed, JsonObject FromApi)>();
        foreach (var (command, path) in reads)
        {
            answers.Add((string.Join(' ', command), await RunOkAsync([.. command, "--json"]), await Host.AdminGetAsync(path)));
        }

        Assert.Multiple(() =>
        {
            foreach (var (command, printed, fromApi) in answers)
            {
                AssertSameJson(printed, fromApi, command);
            }
        });
    }

    [Test]
    public async Task Cli_Tables_HaveNoColumnTheListNeverFills()
    {
        using var receiver = new WebhookReceiver();
        const string org = "cli_cols";
        await RunOkAsync("orgs", "create", org);
        await RunOkAsync("tokens", "create", "--name", "cli-cols", "--role", "viewer", "--org", org);
        await RunOkAsync("webhooks", "create", "--org", org, "--url", receiver.Url, "--event", "key.revoked");
        var key = await RunOkAsync("keys", "create", "--org", org, "--name", "caller", "--scope", "write");
        Assert.That(await Host.StatusAsync(key.Str("key"), "/api/cols"), Is.EqualTo(HttpStatusCode.OK));
        await Eventually.ValueAsync(
            () => Host.AdminGetAsync($"admin/orgs/{org}/requests"),
            r => r["items"]!.AsArray().Count == 1,
            TimeSpan.FromSeconds(15),
            "the logged request");

        var tokens = await HeaderAsync("tokens", "list");
        var webhooks = await HeaderAsync("webhooks", "list", "--org", org);
        var requests = await HeaderAsync("requests", "list", "--org", org);
        Assert.Multiple(() =>
        {
            Assert.That(tokens, Does.Contain("NAME").And.Not.Contain("TOKEN"));
            Assert.That(webhooks, Does.Contain("URL").And.Not.Contain("SECRET"));
            Assert.That(requests, Does.Contain("REQUESTID").And.Not.Contain("ORGID"));
        });

        async Task<string[]> HeaderAsync(params string[] command)
        {
            var (code, table, error) = await RunAsync([.. command, "--output", "table"]);
            Assert.That(code, Is.Zero, error);
            return table.Split('\n')[0].Split(' ', StringSplitOptions.RemoveEmptyEntries);
        }
    }

    [Test]
    public async Task Cli_VerifyWithoutKey_IsAUsageErrorAndCallsNothing()
    {
        Assume.That(Environment.GetEnvironmentVariable("GATEWAY_VERIFY_KEY"), Is.Null, "the key would come from the environment");

        // Port 1 refuses connections: a call would exit 2 ("Cannot reach"), so 1 means nothing was sent.
        string[][] commands = [["verify"], ["verify", ""], ["verify", "--scope", "read"]];
        foreach (var args in commands)
        {
            var (code, output, error) = await RunWithAsync("http://127.0.0.1:1", GatewayHost.AdminToken, args);
            Assert.That(code, Is.EqualTo(1), $"{string.Join(' ', args)}: {error}");
            Assert.That(output, Is.Empty);
            Assert.That(error, Does.Contain("GATEWAY_VERIFY_KEY"));
        }
    }

    /// <summary>The CLI's JSON against the API's own answer: the same members with the same values, at every depth.</summary>
    private static void AssertSameJson(JsonNode? printed, JsonNode? fromApi, string where)
    {
        switch (fromApi)
        {
            case JsonObject apiObject:
                Assert.That(printed, Is.InstanceOf<JsonObject>(), where);
                if (printed is not JsonObject printedObject)
                {
                    return;
                }

                Assert.That(printedObject.Select(p => p.Key), Is.EquivalentTo(apiObject.Select(p => p.Key)), $"{where}: members");
                foreach (var (name, value) in apiObject)
                {
                    AssertSameJson(printedObject[name], value, $"{where}.{name}");
                }

                break;
            case JsonArray apiArray:
                Assert.That(printed, Is.InstanceOf<JsonArray>().And.Count.EqualTo(apiArray.Count), where);
                if (printed is not JsonArray printedArray || printedArray.Count != apiArray.Count)
                {
                    return;
                }

                for (var i = 0; i < apiArray.Count; i++)
                {
                    AssertSameJson(printedArray[i], apiArray[i], $"{where}[{i}]");
                }

                break;
            default:
                Assert.That(JsonNode.DeepEquals(printed, fromApi), Is.True, $"{where}: printed {printed?.ToJsonString() ?? "null"}, the API sent {fromApi?.ToJsonString() ?? "null"}");
                break;
        }
    }

    [TestCase("keys")]
    [TestCase("customers")]
    [TestCase("orgs")]
    [TestCase("tokens")]
    [TestCase("webhooks")]
    public async Task Cli_List_FollowsNextCursor_PrintsTheWholeListOnce(string list)
    {
        var org = "cli_pages_" + list;
        await RunOkAsync("orgs", "create", org);
        using var receiver = new WebhookReceiver();
        for (var i = 0; i < 5; i++)
        {
            await (list switch
            {
                "customers" => RunOkAsync("customers", "create", "--org", org, $"c{i}"),
                "tokens" => RunOkAsync("tokens", "create", "--name", $"cli-page-{i}", "--role", "viewer"),
                "webhooks" => RunOkAsync("webhooks", "create", "--org", org, "--url", receiver.Url, "--event", "key.revoked"),
                // Organizations of their own, so the list has pages whichever tests ran before.
                "orgs" => RunOkAsync("orgs", "create", $"{org}_{i}"),
                _ => RunOkAsync("keys", "create", "--org", org, "--name", $"k{i}"),
            });
        }

        var path = list switch
        {
            "orgs" => "admin/orgs",
            "tokens" => "admin/tokens",
            _ => $"admin/orgs/{org}/{list}",
        };
        var whole = (await Host.AdminGetAsync(path))["items"]!.AsArray().Select(i => i!.Str("id")).ToList();
        // Pages of 2 instead of the CLI's 1,000, so a list of a few items takes several pages.
        using var shrink = new PageShrinkingHandler(2);
        using var output = new StringWriter();
        using var error = new StringWriter();
        string[] args = list is "orgs" or "tokens" ? [list, "list"] : [list, "list", "--org", org];
        var code = await AdminCli.RunAsync([.. args, "--admin-url", Host.AdminUrl.ToString(), "--token", GatewayHost.AdminToken, "--json"], output, error, shrink);

        Assert.That(code, Is.Zero, error.ToString());
        var printed = JsonNode.Parse(output.ToString())!;
        Assert.Multiple(() =>
        {
            Assert.That(shrink.Requests, Is.GreaterThanOrEqualTo(3), "the CLI followed nextCursor");
            Assert.That(printed["items"]!.AsArray().Select(i => i!.Str("id")), Is.EqualTo(whole));
            Assert.That(printed.AsObject().ContainsKey("nextCursor") && printed["nextCursor"] is null, Is.True);
        });
    }

    /// <summary>Passes the CLI's requests on with <c>limit</c> made smaller.</summary>
    private sealed class PageShrinkingHandler(int limit) : DelegatingHandler(new HttpClientHandler())
    {
        public int Requests { get; private set; }

        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            Requests++;
            var uri = request.RequestUri!.ToString();
            request.RequestUri = new Uri(System.Text.RegularExpressions.Regex.Replace(uri, "limit=[0-9]+", $"limit={limit}"));
            return base.SendAsync(request, cancellationToken);
        }
    }

    private async Task<JsonObject> RunOkAsync(params string[] args)
    {
        var (code, output, error) = await RunAsync(args);
        Assert.That(code, Is.Zero, error);
        return JsonNode.Parse(output)!.AsObject();
    }

    private Task<(int Code, string Output, string Error)> RunAsync(params string[] args) =>
        RunWithAsync(Host.AdminUrl.ToString(), GatewayHost.AdminToken, args);

    private static async Task<(int Code, string Output, string Error)> RunWithAsync(string adminUrl, string token, params string[] args)
    {
        using var output = new StringWriter();
        using var error = new StringWriter();
        var code = await AdminCli.RunAsync([.. args, "--admin-url", adminUrl, "--token", token], output, error);
        return (code, output.ToString(), error.ToString());
    }
}
