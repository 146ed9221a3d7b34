using System.Text.Json;
using System.Text.Json.Nodes;
using System.CommandLine;
using System.Globalization;
using Gateway.Client;

namespace Gateway.Cli;

/// <summary>
/// <c>Gateway orgs|keys|customers|tokens|audit|requests|webhooks|verify …</c>: the admin API from a terminal, through <see cref="GatewayClient"/>. It is
/// a client of the admin listener, not of the store, so it works the same on SQLite and Redis and every change is
/// validated and audited by the gateway. Output: a table on a terminal, JSON with <c>--json</c>/<c>--output json</c> or when
/// standard output is redirected; errors go to stderr with exit code 1 (2 when unreachable).
/// </summary>
internal static class AdminCli
{
    private static readonly string[] Commands = ["orgs", "keys", "customers", "tokens", "audit", "requests", "webhooks", "verify", "migrate-store", "healthcheck", "backup", "restore", "--help", "-h", "-?", "--version"];

    /// <summary>
    /// Whether <paramref name="args"/> is a command (or a request for help) rather than gateway start-up arguments. A
    /// first argument that is a bare word is a command too, if a mistyped one (<c>key list</c>): start-up arguments are
    /// settings (<c>--Gateway:Store:Path x</c>, <c>Gateway:Store:Path=x</c>), and a typo used to start a whole gateway on the
    /// default ports and the store in the working directory. The parser then says the command is unknown.
    /// </summary>
    public static bool Handles(string[] args) =>
        args.Length > 0 && (Commands.Contains(args[0], StringComparer.Ordinal) || IsBareWord(args[0]));

    private static bool IsBareWord(string arg) =>
        arg.Length > 0 && arg[0] is not ('-' or '/') && !arg.Contains('=', StringComparison.Ordinal);

    public static Task<int> RunAsync(string[] args, TextWriter output, TextWriter error, HttpMessageHandler? handler = null) =>
        Build(output, error, handler).Parse(args).InvokeAsync(new InvocationConfiguration { Output = output, Error = error });

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
        var format = new Option<string?>("--output", "-o") { Description = "table or json (default: table on a terminal, json when redirected).", Recursive = true };
        format.AcceptOnlyFromAmong("table", "json");
        var json = new Option<bool>("--json") { Description = "Same as --output json.", Recursive = true };

        var client = new CliClient(output, error, handler, adminUrl, token, actor, format, json);
        var root = new RootCommand("Gateway: an API-key gateway. Without a command it runs the gateway; these commands manage it through the admin API.");
        root.Options.Add(adminUrl);
        root.Options.Add(token);
        root.Options.Add(actor);
        root.Options.Add(format);
        root.Options.Add(json);
        root.Subcommands.Add(Orgs(client));
        root.Subcommands.Add(Keys(client));
        root.Subcommands.Add(Customers(client));
        root.Subcommands.Add(Tokens(client));
        root.Subcommands.Add(Audit(client));
        root.Subcommands.Add(Requests(client));
        root.Subcommands.Add(Webhooks(client));
        root.Subcommands.Add(Verify(client));
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
        create.SetAction((r, ct) => client.RunAsync(r, (g, c) => g.CreateOrgAsync(new CreateOrgRequest(r.GetValue(id)!, r.GetValue(name) ?? r.GetValue(id)), c), GatewayJsonContext.Default.Organization, ct));

        var get = new Command("get", "Show one organization.") { id };
        get.SetAction((r, ct) => client.RunAsync(r, (g, c) => g.GetOrgAsync(r.GetValue(id)!, c), GatewayJsonContext.Default.Organization, ct));

        var list = new Command("list", "List organizations.");
        list.SetAction((r, ct) => client.RunListAsync(r, (g, limit, cursor, c) => g.ListOrgsAsync(limit, cursor, c), ct));

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
        create.SetAction((r, ct) => client.RunAsync(
            r,
            (g, c) => g.CreateTokenAsync(new CreateTokenRequest(r.GetValue(name)!, r.GetValue(role)!, r.GetValue(org), Time(r.GetValue(expiresAt), "--expires-at")), c),
            GatewayJsonContext.Default.OperatorToken,
            ct));

        var list = new Command("list", "List admin tokens (never their plaintext).");
        list.SetAction((r, ct) => client.RunListAsync(r, (g, limit, cursor, c) => g.ListTokensAsync(limit, cursor, c), ct));

        var revoke = new Command("revoke", "Revoke an admin token; every instance refuses it within a second.") { id };
        revoke.SetAction((r, ct) => client.RunAsync(r, (g, c) => g.RevokeTokenAsync(r.GetValue(id)!, c), GatewayJsonContext.Default.OperatorToken, ct));

        return new Command("tokens", "Named admin tokens with a role and, optionally, one organization.") { create, list, revoke };
    }

    private static void Set(JsonObject body, string name, string? value)
    {
        if (value is not null)
        {
            body[name] = value;
        }
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
            return client.RunAsync(r, (g, c) => g.CreateCustomerAsync(r.GetValue(org)!, body, c), GatewayJsonContext.Default.Customer, ct);
        });

        var list = new Command("list", "List an organization's customers.") { org };
        list.SetAction((r, ct) => client.RunListAsync(r, (g, limit, cursor, c) => g.ListCustomersAsync(r.GetValue(org)!, limit, cursor, c), ct));

        var get = new Command("get", "Show one customer.") { org, id };
        get.SetAction((r, ct) => client.RunAsync(r, (g, c) => g.GetCustomerAsync(r.GetValue(org)!, r.GetValue(id)!, c), GatewayJsonContext.Default.Customer, ct));

        var update = new Command("update", "Change a customer's name, plan, own rate limit or own quota (what was counted is kept).") { org, id, name, plan, noPlan, permits, window, noRateLimit, quota, period, noQuota };
        update.SetAction((r, ct) =>
        {
            var body = new JsonObject();
            Set(body, "name", r.GetValue(name));
            Limits(r, body);
            return client.RunAsync(r, (g, c) => g.UpdateCustomerAsync(r.GetValue(org)!, r.GetValue(id)!, body, c), GatewayJsonContext.Default.Customer, ct);
        });

        var delete = new Command("delete", "Delete a customer (refused while an active key names it).") { org, id };
        delete.SetAction((r, ct) => client.RunAsync(r, async (g, c) =>
        {
            await g.DeleteCustomerAsync(r.GetValue(org)!, r.GetValue(id)!, c);
            return new JsonObject { ["deleted"] = r.GetValue(id) }.Deserialize(GatewayJsonContext.Default.JsonElement);
        }, GatewayJsonContext.Default.JsonElement, ct));

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
        list.SetAction((r, ct) => client.RunListAsync(r, (g, limit, cursor, c) => g.ListKeysAsync(r.GetValue(org)!, limit, cursor, c), ct));

        var create = new Command("create", "Create a key; prints it with the plaintext key (shown once).") { org, name, environment, scopes, description, expiresAt, customer, createdBy, permits, window, cidrs };
        create.SetAction((r, ct) => client.RunAsync(
            r,
            (g, c) => g.CreateKeyAsync(r.GetValue(org)!, new CreateKeyRequest(r.GetValue(name)!)
            {
                Environment = r.GetValue(environment),
                Scopes = r.GetValue(scopes) is { Length: > 0 } s ? s : null,
                Description = r.GetValue(description),
                ExpiresAt = Time(r.GetValue(expiresAt), "--expires-at"),
                CustomerId = r.GetValue(customer),
                CreatedBy = r.GetValue(createdBy),
                RateLimit = r.GetValue(permits) is { } p ? new RateLimit(p, r.GetValue(window)!) : null,
                AllowedCidrs = r.GetValue(cidrs) is { Length: > 0 } cidrList ? cidrList : null,
            }, c),
            GatewayJsonContext.Default.ApiKey,
            ct));

        var get = new Command("get", "Show one key.") { id };
        get.SetAction((r, ct) => client.RunAsync(r, (g, c) => g.GetKeyAsync(r.GetValue(id)!, c), GatewayJsonContext.Default.ApiKey, ct));

        var update = new Command("update", "Change a key's name, description, scopes, expiry, customer, limit or allowed CIDRs.") { id, name, scopes, description, expiresAt, noExpiry, customer, noCustomer, permits, window, noRateLimit, cidrs, anyIp };
        update.SetAction((r, ct) => client.RunAsync(
            r,
            (g, c) => g.UpdateKeyAsync(r.GetValue(id)!, new KeyUpdate
            {
                Name = r.GetValue(name),
                Description = r.GetValue(description),
                Scopes = r.GetValue(scopes) is { Length: > 0 } s ? s : null,
                ClearExpiresAt = r.GetValue(noExpiry),
                ExpiresAt = Time(r.GetValue(expiresAt), "--expires-at"),
                ClearCustomerId = r.GetValue(noCustomer),
                CustomerId = r.GetValue(customer),
                ClearRateLimit = r.GetValue(noRateLimit),
                RateLimit = r.GetValue(permits) is { } p ? new RateLimit(p, r.GetValue(window)!) : null,
                AllowedCidrs = r.GetValue(anyIp) ? [] : r.GetValue(cidrs) is { Length: > 0 } cidrList ? cidrList : null,
            }, c),
            GatewayJsonContext.Default.ApiKey,
            ct));

        var rotate = new Command("rotate", "Issue a new plaintext for the key (printed once); the old one stops working now or after --grace-period.") { id, grace };
        rotate.SetAction((r, ct) => client.RunAsync(r, (g, c) => g.RotateKeyAsync(r.GetValue(id)!, Duration(r.GetValue(grace), "--grace-period"), c), GatewayJsonContext.Default.ApiKey, ct));

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

            return await client.RunAsync(r, (g, c) => g.ReportLeakedKeysAsync(new LeakedKeysRequest(list, r.GetValue(leakUrl), r.GetValue(leakSource)), c), GatewayJsonContext.Default.LeakedKeysResult, ct);
        });

        var keys = new Command("keys", "API keys.") { list, create, get, update, rotate, leaked };
        foreach (var (verb, help) in new[] { ("deactivate", "Reject the key until activated again."), ("activate", "Accept a deactivated key again."), ("revoke", "Permanently disable the key (the row stays for audit).") })
        {
            var command = new Command(verb, help) { id };
            command.SetAction((r, ct) => client.RunAsync(
                r,
                (g, c) => verb switch
                {
                    "deactivate" => g.DeactivateKeyAsync(r.GetValue(id)!, c),
                    "activate" => g.ActivateKeyAsync(r.GetValue(id)!, c),
                    _ => g.RevokeKeyAsync(r.GetValue(id)!, c),
                },
                GatewayJsonContext.Default.ApiKey,
                ct));
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
        audit.SetAction((r, ct) => client.RunAsync(r, (g, c) => g.ListAuditAsync(r.GetValue(org)!, r.GetValue(limit), r.GetValue(cursor), c), GatewayJsonContext.Default.PageAuditEntry, ct));
        return audit;
    }

    private static Command Requests(CliClient client)
    {
        var org = new Option<string?>("--org") { Description = "Organization id (omit: requests refused before an organization was known; tokens without an organization only)." };
        var keyId = new Option<string?>("--key-id") { Description = "Only this key's requests." };
        var customerId = new Option<string?>("--customer-id") { Description = "Only this customer's requests." };
        var status = new Option<int?>("--status") { Description = "Only answers with this HTTP status." };
        var code = new Option<string?>("--code") { Description = "Only refusals with this problem code, e.g. rate_limited." };
        var from = new Option<string?>("--from") { Description = "ISO 8601 start (inclusive)." };
        var to = new Option<string?>("--to") { Description = "ISO 8601 end." };
        var limit = new Option<int>("--limit") { Description = "Requests per page (1 to 1000).", DefaultValueFactory = _ => 50 };
        var cursor = new Option<string?>("--cursor") { Description = "next of the previous page." };
        var requestId = new Argument<string>("request-id") { Description = "A request id (a gateway answer's X-Request-Id)." };

        var list = new Command("list", "Logged requests, newest first (never keys, query strings or bodies).") { org, keyId, customerId, status, code, from, to, limit, cursor };
        list.SetAction((r, ct) => client.RunAsync(
            r,
            (g, c) =>
            {
                var query = new RequestLogQuery
                {
                    KeyId = r.GetValue(keyId),
                    CustomerId = r.GetValue(customerId),
                    Status = r.GetValue(status),
                    Code = r.GetValue(code),
                    From = Time(r.GetValue(from), "--from"),
                    To = Time(r.GetValue(to), "--to"),
                    Limit = r.GetValue(limit),
                    Cursor = r.GetValue(cursor),
                };
                return r.GetValue(org) is { } o ? g.ListRequestsAsync(o, query, c) : g.ListUnattributedRequestsAsync(query, c);
            },
            GatewayJsonContext.Default.RequestLogPage,
            ct));

        var get = new Command("get", "Show one logged request, with its organization.") { requestId };
        get.SetAction((r, ct) => client.RunAsync(r, (g, c) => g.GetRequestAsync(r.GetValue(requestId)!, c), GatewayJsonContext.Default.LoggedRequest, ct));

        return new Command("requests", "The request log.") { list, get };
    }

    private static Command Webhooks(CliClient client)
    {
        var org = new Option<string>("--org") { Description = "Organization id.", Required = true };
        var id = new Argument<string>("id") { Description = "Webhook id (wh_…)." };
        var delivery = new Argument<string>("delivery") { Description = "Delivery id (its webhook-id header)." };
        var url = new Option<string>("--url") { Description = "The receiver's https URL.", Required = true };
        var events = new Option<string[]>("--event") { Description = "An event to send (repeat for several): key.created, key.rotated, key.revoked, key.deactivated, key.leaked, key.expiring, quota.threshold, credits.exhausted.", AllowMultipleArgumentsPerToken = true, Required = true };
        var description = new Option<string?>("--description") { Description = "What the webhook is for." };
        var limit = new Option<int?>("--limit") { Description = "Deliveries to show, newest first (1 to 1000; default 50)." };
        var cursor = new Option<string?>("--cursor") { Description = "nextCursor of the previous page: the deliveries older than it." };

        var list = new Command("list", "List an organization's webhooks (never their secrets).") { org };
        list.SetAction((r, ct) => client.RunListAsync(r, (g, pageLimit, cursor, c) => g.ListWebhooksAsync(r.GetValue(org)!, pageLimit, cursor, c), ct));

        var create = new Command("create", "Create a webhook; prints it with its signing secret (shown once).") { org, url, events, description };
        create.SetAction((r, ct) => client.RunAsync(
            r,
            (g, c) => g.CreateWebhookAsync(r.GetValue(org)!, new CreateWebhookRequest(r.GetValue(url)!, r.GetValue(events) ?? [], r.GetValue(description)), c),
            GatewayJsonContext.Default.Webhook,
            ct));

        var delete = new Command("delete", "Delete a webhook; its pending deliveries are not sent.") { id };
        delete.SetAction((r, ct) => client.RunAsync(r, async (g, c) =>
        {
            await g.DeleteWebhookAsync(r.GetValue(id)!, c);
            return new JsonObject { ["deleted"] = r.GetValue(id) }.Deserialize(GatewayJsonContext.Default.JsonElement);
        }, GatewayJsonContext.Default.JsonElement, ct));

        var deliveries = new Command("deliveries", "A webhook's deliveries, newest first: status, attempts, the receiver's last answer.") { id, limit, cursor };
        deliveries.SetAction((r, ct) => client.RunAsync(r, (g, c) => g.ListWebhookDeliveriesAsync(r.GetValue(id)!, r.GetValue(limit), r.GetValue(cursor), c), GatewayJsonContext.Default.PageWebhookDelivery, ct));

        var retry = new Command("retry", "Send a delivery again now, with the same webhook-id.") { id, delivery };
        retry.SetAction((r, ct) => client.RunAsync(r, (g, c) => g.RetryWebhookDeliveryAsync(r.GetValue(id)!, r.GetValue(delivery)!, c), GatewayJsonContext.Default.WebhookDelivery, ct));

        return new Command("webhooks", "Signed webhooks of an organization and their deliveries.") { list, create, delete, deliveries, retry };
    }

    private static Command Verify(CliClient client)
    {
        var key = new Argument<string>("key") { Description = "The API key to check (prefer GATEWAY_VERIFY_KEY: arguments end up in shell history).", Arity = ArgumentArity.ZeroOrOne };
        var environment = new Option<string?>("--environment") { Description = "The environment the key must be for (default: the gateway's)." };
        var scopes = new Option<string[]>("--scope") { Description = "A scope the key must hold (repeat for several).", AllowMultipleArgumentsPerToken = true };
        var clientIp = new Option<string?>("--client-ip") { Description = "The end client's address, checked against the key's allowed CIDRs." };
        var charge = new Option<bool>("--charge") { Description = "Consume the key's limits as a proxied request would." };
        var verify = new Command("verify", "What a proxied request with this key would get (POST /v1/keys/verify).") { key, environment, scopes, clientIp, charge };
        verify.SetAction((r, ct) => client.RunAsync(
            r,
            (g, c) => g.VerifyKeyAsync(new VerifyKeyRequest(VerifiedKey(r.GetValue(key)))
            {
                Environment = r.GetValue(environment),
                Scopes = r.GetValue(scopes) is { Length: > 0 } s ? s : null,
                ClientIp = r.GetValue(clientIp),
                Charge = r.GetValue(charge) ? true : null,
            }, c),
            GatewayJsonContext.Default.VerifyKeyResult,
            ct));
        return verify;
    }

    // An empty key is never valid: sending it only earned {"valid":false} with exit 0, as if the key had been checked.
    private static string VerifiedKey(string? argument) =>
        argument is { Length: > 0 } ? argument
        : Environment.GetEnvironmentVariable("GATEWAY_VERIFY_KEY") is { Length: > 0 } fromEnvironment ? fromEnvironment
        : throw new CliUsageException("verify: no key: pass it as the argument or set GATEWAY_VERIFY_KEY.");

    private static DateTimeOffset? Time(string? text, string option) =>
        text is null ? null
        : DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var value) ? value
        : throw new CliUsageException($"{option}: '{text}' is not an ISO 8601 time, e.g. 2030-01-31T00:00:00Z.");

    private static TimeSpan? Duration(string? text, string option) =>
        text is null ? null
        : TimeSpan.TryParse(text, CultureInfo.InvariantCulture, out var value) ? value
        : throw new CliUsageException($"{option}: '{text}' is not a duration, e.g. 00:10:00.");
}
