using System.CommandLine;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Gateway.Cli;

/// <summary>
/// <c>Gateway orgs|keys|tokens|audit …</c>: the admin API from a terminal. It is a client of the admin listener,
/// not of the store, so it works the same on SQLite and Redis and every change is validated and audited
/// by the gateway. Output is the API's JSON; errors go to stderr with exit code 1 (2 when unreachable).
/// </summary>
internal static class AdminCli
{
    private static readonly string[] Commands = ["orgs", "keys", "customers", "tokens", "audit", "migrate-store", "healthcheck", "backup", "restore"];

    public static bool Handles(string[] args) => args.Length > 0 && Commands.Contains(args[0], StringComparer.Ordinal);

    public static Task<int> RunAsync(string[] args, TextWriter output, TextWriter error, HttpMessageHandler? handler = null) =>
        Build(output, error, handler).Parse(args).InvokeAsync();

    private static RootCommand Build(TextWriter output, TextWriter error, HttpMessageHandler? handler)
    {
        var adminUrl = new Option<string>("--admin-url")
        {
            Description = "Admin listener URL (env GATEWAY_ADMIN_URL).",
            Recursive = true,
            DefaultValueFactory = _ => Environment.GetEnvironmentVariable("GATEWAY_ADMIN_URL") ?? "http://127.0.0.1:8081",
        };
        var token = new Option<string?>("--token")
        {
            Description = "Admin token (env GATEWAY_ADMIN_TOKEN; else the contents of data/admin-token).",
            Recursive = true,
        };
        var actor = new Option<string?>("--actor") { Description = "Who is making the change, for the audit log.", Recursive = true };

        var client = new CliClient(output, error, handler, adminUrl, token, actor);
        var root = new RootCommand("Gateway: an API-key gateway. Without a command it runs the gateway; these commands manage it through the admin API.");
        root.Options.Add(adminUrl);
        root.Options.Add(token);
        root.Options.Add(actor);
        root.Subcommands.Add(Orgs(client));
        root.Subcommands.Add(Keys(client));
        root.Subcommands.Add(Customers(client));
        root.Subcommands.Add(Tokens(client));
        root.Subcommands.Add(Audit(client));
        root.Subcommands.Add(StoreMigration.Command(output, error));
        root.Subcommands.Add(HealthCheckCommand.Create(output, error));
        foreach (var command in BackupCommands.Create(output, error))
        {
            root.Subcommands.Add(command);
        }
        KeyImportCommand.AddTo(root, output, error);
        return root;
    }

    private static Command Orgs(CliClient client)
    {
        var id = new Argument<string>("id") { Description = "Organization id." };
        var name = new Option<string?>("--name") { Description = "Display name (defaults to the id)." };

        var create = new Command("create", "Create an organization; prints it with its default key (shown once).") { id, name };
        create.SetAction((r, ct) => client.SendAsync(r, HttpMethod.Post, "admin/orgs", new JsonObject { ["id"] = r.GetValue(id), ["name"] = r.GetValue(name) ?? r.GetValue(id) }, ct));

        var get = new Command("get", "Show one organization.") { id };
        get.SetAction((r, ct) => client.SendAsync(r, HttpMethod.Get, $"admin/orgs/{Uri.EscapeDataString(r.GetValue(id)!)}", null, ct));

        var list = new Command("list", "List organizations.");
        list.SetAction((r, ct) => client.SendAsync(r, HttpMethod.Get, "admin/orgs", null, ct));

        return new Command("orgs", "Organizations.") { create, get, list };
    }

    private static Command Tokens(CliClient client)
    {
        var id = new Argument<string>("id") { Description = "Admin token id (tok_…)." };
        var name = new Option<string>("--name") { Description = "Who holds the token; audit entries name it.", Required = true };
        var role = new Option<string>("--role") { Description = "verifier, viewer, admin or owner.", Required = true };
        var org = new Option<string?>("--org") { Description = "The one organization the token may act on (omit: every organization)." };
        var expiresAt = new Option<string?>("--expires-at") { Description = "ISO 8601 expiry, e.g. 2030-01-31T00:00:00Z." };

        var create = new Command("create", "Create a named admin token; prints it with the plaintext gwa_ token (shown once).") { name, role, org, expiresAt };
        create.SetAction((r, ct) =>
        {
            var body = new JsonObject { ["name"] = r.GetValue(name), ["role"] = r.GetValue(role) };
            Set(body, "org", r.GetValue(org));
            Set(body, "expiresAt", r.GetValue(expiresAt));
            return client.SendAsync(r, HttpMethod.Post, "admin/tokens", body, ct);
        });

        var list = new Command("list", "List admin tokens (never their plaintext).");
        list.SetAction((r, ct) => client.SendAsync(r, HttpMethod.Get, "admin/tokens", null, ct));

        var revoke = new Command("revoke", "Revoke an admin token; every instance refuses it within a second.") { id };
        revoke.SetAction((r, ct) => client.SendAsync(r, HttpMethod.Post, $"admin/tokens/{Uri.EscapeDataString(r.GetValue(id)!)}/revoke", null, ct));

        return new Command("tokens", "Named admin tokens with a role and, optionally, one organization.") { create, list, revoke };
    }

    private static Command Customers(CliClient client)
    {
        var org = new Option<string>("--org") { Description = "Organization id.", Required = true };
        var id = new Argument<string>("id") { Description = "Customer id: letters, digits and _.:@-." };
        var name = new Option<string?>("--name") { Description = "Display name." };
        var plan = new Option<string?>("--plan") { Description = "A plan under Gateway:Plans." };
        var noPlan = new Option<bool>("--no-plan") { Description = "Take the customer off its plan." };
        var permits = new Option<int?>("--rate-limit") { Description = "The customer's own limit, shared by its keys: permits per --rate-window." };
        var window = new Option<string?>("--rate-window") { Description = "Window of --rate-limit, e.g. 00:00:01.", DefaultValueFactory = _ => "00:01:00" };
        var noRateLimit = new Option<bool>("--no-rate-limit") { Description = "Clear the customer's own limit (its plan's applies)." };
        var quota = new Option<long?>("--quota") { Description = "The customer's own quota per --quota-period." };
        var period = new Option<string?>("--quota-period") { Description = "day or month (calendar, UTC).", DefaultValueFactory = _ => "month" };
        var noQuota = new Option<bool>("--no-quota") { Description = "Clear the customer's own quota (its plan's applies)." };

        string Path(ParseResult r, string? customer = null) =>
            $"admin/orgs/{Uri.EscapeDataString(r.GetValue(org)!)}/customers" + (customer is null ? "" : "/" + Uri.EscapeDataString(customer));

        void Limits(ParseResult r, JsonObject body)
        {
            if (r.GetValue(noPlan))
            {
                body["plan"] = null;
            }
            else
            {
                Set(body, "plan", r.GetValue(plan));
            }

            if (r.GetValue(noRateLimit))
            {
                body["rateLimit"] = null;
            }
            else if (r.GetValue(permits) is { } p)
            {
                body["rateLimit"] = new JsonObject { ["permitLimit"] = p, ["window"] = r.GetValue(window) };
            }

            if (r.GetValue(noQuota))
            {
                body["quota"] = null;
            }
            else if (r.GetValue(quota) is { } q)
            {
                body["quota"] = new JsonObject { ["limit"] = q, ["period"] = r.GetValue(period) };
            }
        }

        var create = new Command("create", "Create a customer; keys whose customer id names it share its rate limit and quota.") { org, id, name, plan, permits, window, quota, period };
        create.SetAction((r, ct) =>
        {
            var body = new JsonObject { ["id"] = r.GetValue(id), ["name"] = r.GetValue(name) ?? r.GetValue(id) };
            Limits(r, body);
            return client.SendAsync(r, HttpMethod.Post, Path(r), body, ct);
        });

        var list = new Command("list", "List an organization's customers.") { org };
        list.SetAction((r, ct) => client.SendAsync(r, HttpMethod.Get, Path(r), null, ct));

        var get = new Command("get", "Show one customer.") { org, id };
        get.SetAction((r, ct) => client.SendAsync(r, HttpMethod.Get, Path(r, r.GetValue(id)), null, ct));

        var update = new Command("update", "Change a customer's name, plan, own rate limit or own quota (what was counted is kept).") { org, id, name, plan, noPlan, permits, window, noRateLimit, quota, period, noQuota };
        update.SetAction((r, ct) =>
        {
            var body = new JsonObject();
            Set(body, "name", r.GetValue(name));
            Limits(r, body);
            return client.SendAsync(r, HttpMethod.Patch, Path(r, r.GetValue(id)), body, ct);
        });

        var delete = new Command("delete", "Delete a customer (refused while an active key names it).") { org, id };
        delete.SetAction((r, ct) => client.SendAsync(r, HttpMethod.Delete, Path(r, r.GetValue(id)), null, ct));

        return new Command("customers", "Customers of an organization, their plans and quotas.") { create, list, get, update, delete };
    }

    private static Command Keys(CliClient client)
    {
        var org = new Option<string>("--org") { Description = "Organization id.", Required = true };
        var id = new Argument<string>("id") { Description = "Key id (key_…)." };
        var name = new Option<string?>("--name") { Description = "Key name: letters, digits, underscores." };
        var environment = new Option<string?>("--environment") { Description = "production, staging or development." };
        var scopes = new Option<string[]>("--scope") { Description = "A scope the key holds (repeat for several; * for full access).", AllowMultipleArgumentsPerToken = true };
        var description = new Option<string?>("--description") { Description = "What the key is for." };
        var expiresAt = new Option<string?>("--expires-at") { Description = "ISO 8601 expiry, e.g. 2030-01-31T00:00:00Z." };
        var customer = new Option<string?>("--customer-id") { Description = "Customer the key acts for (sent upstream as X-Customer-Id)." };
        var createdBy = new Option<string?>("--created-by") { Description = "Who created the key." };
        var permits = new Option<int?>("--rate-limit") { Description = "Per-key limit: permits per --rate-window." };
        var window = new Option<string?>("--rate-window") { Description = "Per-key limit window, e.g. 00:01:00.", DefaultValueFactory = _ => "00:01:00" };
        var grace = new Option<string?>("--grace-period") { Description = "Keep the old key working this long, e.g. 00:10:00 (max 7.00:00:00)." };
        var noExpiry = new Option<bool>("--no-expiry") { Description = "Clear the expiry." };
        var noCustomer = new Option<bool>("--no-customer") { Description = "Clear the customer id." };
        var noRateLimit = new Option<bool>("--no-rate-limit") { Description = "Clear the per-key limit." };
        var cidrs = new Option<string[]>("--allowed-cidr") { Description = "A CIDR the key may be used from, e.g. 203.0.113.0/24 (repeat for several; none: any address).", AllowMultipleArgumentsPerToken = true };
        var anyIp = new Option<bool>("--any-ip") { Description = "Clear the key's allowed CIDRs: any address may use it." };

        var list = new Command("list", "List an organization's keys, revoked ones included.") { org };
        list.SetAction((r, ct) => client.SendAsync(r, HttpMethod.Get, $"admin/orgs/{Uri.EscapeDataString(r.GetValue(org)!)}/keys", null, ct));

        var create = new Command("create", "Create a key; prints it with the plaintext key (shown once).") { org, name, environment, scopes, description, expiresAt, customer, createdBy, permits, window, cidrs };
        create.SetAction((r, ct) =>
        {
            var body = new JsonObject { ["name"] = r.GetValue(name) };
            Set(body, "environment", r.GetValue(environment));
            if (r.GetValue(scopes) is { Length: > 0 } s)
            {
                body["scopes"] = new JsonArray(s.Select(x => (JsonNode?)x).ToArray());
            }

            Set(body, "description", r.GetValue(description));
            Set(body, "expiresAt", r.GetValue(expiresAt));
            Set(body, "customerId", r.GetValue(customer));
            Set(body, "createdBy", r.GetValue(createdBy));
            if (r.GetValue(permits) is { } p)
            {
                body["rateLimit"] = new JsonObject { ["permitLimit"] = p, ["window"] = r.GetValue(window) };
            }

            if (r.GetValue(cidrs) is { Length: > 0 } c)
            {
                body["allowedCidrs"] = new JsonArray(c.Select(x => (JsonNode?)x).ToArray());
            }

            return client.SendAsync(r, HttpMethod.Post, $"admin/orgs/{Uri.EscapeDataString(r.GetValue(org)!)}/keys", body, ct);
        });

        var get = new Command("get", "Show one key.") { id };
        get.SetAction((r, ct) => client.SendAsync(r, HttpMethod.Get, KeyPath(r.GetValue(id)!), null, ct));

        var update = new Command("update", "Change a key's name, description, scopes, expiry, customer, limit or allowed CIDRs.") { id, name, scopes, description, expiresAt, noExpiry, customer, noCustomer, permits, window, noRateLimit, cidrs, anyIp };
        update.SetAction((r, ct) =>
        {
            var body = new JsonObject();
            Set(body, "name", r.GetValue(name));
            Set(body, "description", r.GetValue(description));
            if (r.GetValue(scopes) is { Length: > 0 } s)
            {
                body["scopes"] = new JsonArray(s.Select(x => (JsonNode?)x).ToArray());
            }

            if (r.GetValue(noExpiry))
            {
                body["expiresAt"] = null;
            }
            else
            {
                Set(body, "expiresAt", r.GetValue(expiresAt));
            }

            if (r.GetValue(noCustomer))
            {
                body["customerId"] = null;
            }
            else
            {
                Set(body, "customerId", r.GetValue(customer));
            }

            if (r.GetValue(noRateLimit))
            {
                body["rateLimit"] = null;
            }
            else if (r.GetValue(permits) is { } p)
            {
                body["rateLimit"] = new JsonObject { ["permitLimit"] = p, ["window"] = r.GetValue(window) };
            }

            if (r.GetValue(anyIp))
            {
                body["allowedCidrs"] = new JsonArray();
            }
            else if (r.GetValue(cidrs) is { Length: > 0 } c)
            {
                body["allowedCidrs"] = new JsonArray(c.Select(x => (JsonNode?)x).ToArray());
            }

            return client.SendAsync(r, HttpMethod.Patch, KeyPath(r.GetValue(id)!), body, ct);
        });

        var rotate = new Command("rotate", "Issue a new plaintext for the key (printed once); the old one stops working now or after --grace-period.") { id, grace };
        rotate.SetAction((r, ct) =>
        {
            var body = new JsonObject();
            Set(body, "gracePeriod", r.GetValue(grace));
            return client.SendAsync(r, HttpMethod.Post, KeyPath(r.GetValue(id)!) + "/rotate", body, ct);
        });

        var tokens = new Argument<string[]>("tokens") { Description = "Leaked key strings (prefer --file: arguments end up in shell history).", Arity = ArgumentArity.ZeroOrMore };
        var file = new Option<string?>("--file") { Description = "Read leaked key strings from this file, one per line ('-' for standard input)." };
        var leakUrl = new Option<string?>("--url") { Description = "Where the keys were found, for the audit log." };
        var leakSource = new Option<string?>("--source") { Description = "What kind of place that is (e.g. 'log file'), for the audit log." };
        var leaked = new Command("leaked", "Report keys found in public: each one that is ours is revoked (or as Gateway:SecretScanning:Action says); a default key is rotated.") { tokens, file, leakUrl, leakSource };
        leaked.SetAction(async (r, ct) =>
        {
            var list = new List<string>(r.GetValue(tokens) ?? []);
            if (r.GetValue(file) is { Length: > 0 } path)
            {
                var text = path == "-" ? await Console.In.ReadToEndAsync(ct) : await File.ReadAllTextAsync(path, ct);
                list.AddRange(text.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));
            }

            var body = new JsonObject { ["tokens"] = new JsonArray(list.Select(x => (JsonNode?)x).ToArray()) };
            Set(body, "url", r.GetValue(leakUrl));
            Set(body, "source", r.GetValue(leakSource));
            return await client.SendAsync(r, HttpMethod.Post, "admin/leaked-keys", body, ct);
        });

        var keys = new Command("keys", "API keys.") { list, create, get, update, rotate, leaked };
        foreach (var (verb, help) in new[] { ("deactivate", "Reject the key until activated again."), ("activate", "Accept a deactivated key again."), ("revoke", "Permanently disable the key (the row stays for audit).") })
        {
            var command = new Command(verb, help) { id };
            command.SetAction((r, ct) => client.SendAsync(r, HttpMethod.Post, KeyPath(r.GetValue(id)!) + "/" + verb, null, ct));
            keys.Subcommands.Add(command);
        }

        return keys;
    }

    private static Command Audit(CliClient client)
    {
        var org = new Option<string>("--org") { Description = "Organization id.", Required = true };
        var limit = new Option<int>("--limit") { Description = "Entries per page.", DefaultValueFactory = _ => 50 };
        var cursor = new Option<string?>("--cursor") { Description = "nextCursor of the previous page." };
        var audit = new Command("audit", "Who did what to which key, newest first.") { org, limit, cursor };
        audit.SetAction((r, ct) =>
        {
            var path = $"admin/audit?org={Uri.EscapeDataString(r.GetValue(org)!)}&limit={r.GetValue(limit)}";
            if (r.GetValue(cursor) is { } c)
            {
                path += "&cursor=" + Uri.EscapeDataString(c);
            }

            return client.SendAsync(r, HttpMethod.Get, path, null, ct);
        });
        return audit;
    }

    private static string KeyPath(string id) => $"admin/keys/{Uri.EscapeDataString(id)}";

    private static void Set(JsonObject body, string field, string? value)
    {
        if (value is not null)
        {
            body[field] = value;
        }
    }

    private sealed class CliClient(TextWriter output, TextWriter error, HttpMessageHandler? handler, Option<string> adminUrl, Option<string?> token, Option<string?> actor)
    {
        private static readonly JsonSerializerOptions Pretty = new() { WriteIndented = true };

        public async Task<int> SendAsync(ParseResult result, HttpMethod method, string path, JsonObject? body, CancellationToken cancellationToken)
        {
            var secret = result.GetValue(token) ?? Environment.GetEnvironmentVariable("GATEWAY_ADMIN_TOKEN") ?? ReadTokenFile();
            if (string.IsNullOrEmpty(secret))
            {
                await error.WriteLineAsync("No admin token: pass --token, set GATEWAY_ADMIN_TOKEN, or run from the directory holding data/admin-token.");
                return 1;
            }

            using var http = handler is null ? new HttpClient() : new HttpClient(handler, disposeHandler: false);
            http.BaseAddress = new Uri(result.GetValue(adminUrl)!.TrimEnd('/') + "/");
            using var request = new HttpRequestMessage(method, path);
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", secret);
            if (result.GetValue(actor) is { } who)
            {
                request.Headers.Add("X-Admin-Actor", who);
            }

            if (body is not null)
            {
                request.Content = new StringContent(body.ToJsonString(), Encoding.UTF8, "application/json");
            }

            HttpResponseMessage response;
            try
            {
                response = await http.SendAsync(request, cancellationToken);
            }
            catch (HttpRequestException ex)
            {
                await error.WriteLineAsync($"Cannot reach the admin API at {http.BaseAddress}: {ex.Message}");
                return 2;
            }

            using (response)
            {
                var text = await response.Content.ReadAsStringAsync(cancellationToken);
                var pretty = TryPretty(text);
                if (response.IsSuccessStatusCode)
                {
                    await output.WriteLineAsync(pretty);
                    return 0;
                }

                await error.WriteLineAsync($"{(int)response.StatusCode} {response.ReasonPhrase}");
                await error.WriteLineAsync(pretty);
                return 1;
            }
        }

        private static string? ReadTokenFile()
        {
            var path = Path.Combine("data", "admin-token");
            return File.Exists(path) ? File.ReadAllText(path).Trim() : null;
        }

        private static string TryPretty(string text)
        {
            try
            {
                return JsonNode.Parse(text)?.ToJsonString(Pretty) ?? text;
            }
            catch (JsonException)
            {
                return text;
            }
        }
    }
}
