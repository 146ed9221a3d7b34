using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Gateway.Admin;
using Gateway.Configuration;
using Gateway.Demo;
using Gateway.Domain;
using Gateway.Keys;
using Gateway.Stores;
using Gateway.Stores.Redis;
using Gateway.Stores.Sqlite;
using Microsoft.Extensions.Options;

namespace Gateway.Cli;

/// <summary>
/// <c>Gateway keys import --file keys.jsonl</c>: many existing keys at once, written straight into the store
/// (SQLite or Redis, as a gateway started here would use, or <c>--store</c>/<c>--redis</c>) in batches, for
/// moving keys from another system and for seeding a load test, where a million admin calls would take hours.
/// Each line is a JSON object: <c>org</c>, <c>name</c>, and either <c>key</c> (the plaintext, hashed here and
/// never stored) or <c>hash</c> (its SHA-256 in hex) with <c>prefix</c> and <c>environment</c>; optionally
/// <c>scopes</c>, <c>description</c>, <c>customerId</c>. The whole file is checked before anything is
/// written. An organization not in the store is created, its first key in the file becoming its default key.
/// A key whose hash or live name is already taken is skipped, so a run can be repeated.
/// </summary>
internal static class KeyImportCommand
{
    private static readonly HashSet<string> Fields = new(["org", "name", "key", "hash", "prefix", "environment", "scopes", "description", "customerId"], StringComparer.Ordinal);

    /// <summary>Adds <c>import</c> under the <c>keys</c> command of <paramref name="root"/>.</summary>
    public static void AddTo(RootCommand root, TextWriter output, TextWriter error)
    {
        var keys = root.Subcommands.First(c => c.Name == "keys");
        keys.Subcommands.Add(Create(output, error));
    }

    internal static Command Create(TextWriter output, TextWriter error)
    {
        var file = new Option<string>("--file") { Description = "JSON Lines file, one key per line (see docs/cli.md).", Required = true };
        var store = new Option<string?>("--store") { Description = "SQLite store file (default: Gateway:Store:Path, unless Gateway:Store:Redis is set)." };
        var redis = new Option<string?>("--redis") { Description = "StackExchange.Redis connection string of a Redis store (default: Gateway:Store:Redis)." };
        var prefix = new Option<string?>("--prefix") { Description = "Gateway:Store:RedisPrefix of the Redis store (default: the setting, else gw:)." };
        var batch = new Option<int>("--batch") { Description = "Keys per transaction (SQLite) or pipelined round (Redis).", DefaultValueFactory = _ => 5000 };
        var command = new Command("import", "Write keys from a JSON Lines file straight into the store, in batches (offline; no admin API).") { file, store, redis, prefix, batch };
        command.SetAction(async (result, cancellationToken) =>
        {
            var path = result.GetValue(file)!;
            if (!File.Exists(path))
            {
                await error.WriteLineAsync($"No file at '{path}'.");
                return 1;
            }

            var size = result.GetValue(batch);
            if (size is < 1 or > 100_000)
            {
                await error.WriteLineAsync("--batch must be between 1 and 100000.");
                return 1;
            }

            var settings = CliConfiguration.Load();
            var scopes = DemoServiceCollectionExtensions.KnownScopes(settings);
            var problems = Check(path, scopes);
            if (problems.Count > 0)
            {
                foreach (var problem in problems)
                {
                    await error.WriteLineAsync(problem);
                }

                await error.WriteLineAsync("Nothing was imported.");
                return 1;
            }

            var redisConnection = result.GetValue(redis) ?? (result.GetValue(store) is null ? settings[$"{GatewayOptions.SectionName}:Store:Redis"] : null);
            try
            {
                if (!string.IsNullOrWhiteSpace(redisConnection))
                {
                    var options = new GatewayOptions { Store = { RedisPrefix = result.GetValue(prefix) ?? settings[$"{GatewayOptions.SectionName}:Store:RedisPrefix"] ?? "gw:" } };
                    using var connection = RedisConnection.Connect(redisConnection, TimeSpan.FromSeconds(5), settings[$"{GatewayOptions.SectionName}:Store:RedisCaFile"]);
                    return await ImportAsync(path, new RedisGatewayStore(connection, Options.Create(options)), size, output, cancellationToken);
                }

                var file = Path.GetFullPath(result.GetValue(store) ?? settings[$"{GatewayOptions.SectionName}:Store:Path"] ?? new StoreOptions().Path);
                var sqlite = new SqliteGatewayStore(Options.Create(new GatewayOptions { Store = { Path = file } }));
                await sqlite.InitializeAsync(cancellationToken);
                return await ImportAsync(path, sqlite, size, output, cancellationToken);
            }
            catch (StoreUnavailableException ex)
            {
                await error.WriteLineAsync($"The store did not answer: {ex.InnerException?.Message ?? ex.Message}. Keys already written stay; run the import again to add the rest.");
                return 2;
            }
        });
        return command;
    }

    /// <summary>Every bad line (at most 20 reported), so the file is fixed in one go and nothing half-imported.</summary>
    private static List<string> Check(string path, IReadOnlyList<string> knownScopes)
    {
        var problems = new List<string>();
        var lineNumber = 0;
        var bad = 0;
        foreach (var line in File.ReadLines(path))
        {
            lineNumber++;
            if (string.IsNullOrWhiteSpace(line))
            {
                continue;
            }

            var problem = Parse(line, knownScopes, DateTimeOffset.UnixEpoch, out _);
            if (problem is not null && ++bad <= 20)
            {
                problems.Add($"line {lineNumber}: {problem}");
            }
        }

        if (bad > 20)
        {
            problems.Add($"… and {bad - 20} more bad lines.");
        }

        return problems;
    }

    private static async Task<int> ImportAsync(string path, IKeyImportStore store, int batchSize, TextWriter output, CancellationToken cancellationToken)
    {
        var started = Stopwatch.GetTimestamp();
        var actor = "cli:" + Environment.UserName;
        var seenOrgs = new HashSet<string>(StringComparer.Ordinal);
        var organizations = new List<Organization>();
        var keys = new List<ApiKeyRecord>(batchSize);
        int lines = 0, written = 0, orgCount = 0;
        var now = KeyRules.ToStoredPrecision(DateTimeOffset.UtcNow);

        async Task FlushAsync()
        {
            // One audit entry per organization per batch: a million entries would be most of the import's cost.
            var audit = keys.GroupBy(k => k.OrgId, StringComparer.Ordinal)
                .Select(g => new AuditEntry(AuditIds.New(), g.Key, null, "key.import", actor, now,
                    "{\"keys\":{\"before\":null,\"after\":" + g.Count().ToString(CultureInfo.InvariantCulture) + "}}"))
                .ToList();
            written += await store.ImportKeysAsync(organizations, keys, audit, cancellationToken);
            lines += keys.Count;
            organizations.Clear();
            keys.Clear();
        }

        foreach (var line in File.ReadLines(path))
        {
            if (string.IsNullOrWhiteSpace(line))
            {
                continue;
            }

            // Checked before; scopes were validated then.
            Parse(line, null, now, out var key);
            if (seenOrgs.Add(key!.OrgId))
            {
                key = key with { IsDefault = true };
                organizations.Add(new Organization(key.OrgId, key.OrgId, now, key.Id));
                orgCount++;
            }

            keys.Add(key);
            if (keys.Count == batchSize)
            {
                await FlushAsync();
            }
        }

        if (keys.Count > 0)
        {
            await FlushAsync();
        }

        var seconds = Stopwatch.GetElapsedTime(started).TotalSeconds;
        await output.WriteLineAsync(string.Create(CultureInfo.InvariantCulture,
            $"Imported {written} keys ({lines - written} skipped: hash or live name already taken) for {orgCount} organizations (new ones created) in {seconds:F1} s."));
        return 0;
    }

    /// <summary>The record for one line, or what is wrong with it. <paramref name="knownScopes"/> null: do not check scopes.</summary>
    private static string? Parse(string line, IReadOnlyList<string>? knownScopes, DateTimeOffset now, out ApiKeyRecord? record)
    {
        record = null;
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(line, JsonFields.DocumentOptions);
        }
        catch (JsonException ex)
        {
            return "not a JSON object: " + ex.Message;
        }

        using (document)
        {
            var body = document.RootElement;
            if (body.ValueKind != JsonValueKind.Object)
            {
                return "not a JSON object.";
            }

            foreach (var property in body.EnumerateObject())
            {
                if (!Fields.Contains(property.Name))
                {
                    return $"unknown field '{property.Name}'.";
                }
            }

            var org = String(body, "org");
            if (org is null || !JsonFields.OrgId().IsMatch(org))
            {
                return "org must match ^[A-Za-z0-9_-]{1,64}$.";
            }

            var name = String(body, "name");
            if (name is null || !JsonFields.KeyName().IsMatch(name))
            {
                return "name must match ^[A-Za-z0-9_]{1,64}$.";
            }

            string hash, prefix, environment;
            if (String(body, "key") is { } plaintext)
            {
                if (body.TryGetProperty("hash", out _) || body.TryGetProperty("prefix", out _))
                {
                    return "give either key, or hash with prefix, not both.";
                }

                if (!ApiKeyFormat.TryParse(plaintext, out var parsed))
                {
                    return "key is not a well-formed key (docs/keys.md: prefix, environment tag, 32 random characters and a checksum).";
                }

                (hash, prefix, environment) = (ApiKeyFormat.Hash(plaintext), parsed.DisplayPrefix, parsed.Environment);
                if (String(body, "environment") is { } stated && stated != environment)
                {
                    return $"environment '{stated}' does not match the key's tag ({environment}).";
                }
            }
            else
            {
                var hex = String(body, "hash");
                if (hex is null || !KeyDigest.TryParseHex(hex, out var digest))
                {
                    return "key (the plaintext) or hash (64 hex digits, its SHA-256) is required.";
                }

                hash = digest.ToHex();
                prefix = String(body, "prefix") ?? "";
                if (prefix.Length is 0 or > 32)
                {
                    return "prefix (the key's first characters, shown in listings) is required with hash, at most 32 characters.";
                }

                environment = String(body, "environment") ?? "";
                if (!KeyEnvironments.IsValid(environment))
                {
                    return "environment (production, staging or development) is required with hash.";
                }
            }

            IReadOnlyList<string> scopes = [KeyRules.AnyScope];
            if (body.TryGetProperty("scopes", out var scopeArray))
            {
                if (scopeArray.ValueKind != JsonValueKind.Array || scopeArray.EnumerateArray().Any(s => s.ValueKind != JsonValueKind.String))
                {
                    return "scopes must be an array of strings.";
                }

                scopes = scopeArray.EnumerateArray().Select(s => s.GetString()!).Distinct(StringComparer.Ordinal).ToList();
                if (knownScopes is not null && scopes.FirstOrDefault(s => !KeyRules.IsKnownScope(s, knownScopes)) is { } unknown)
                {
                    return $"unknown scope '{unknown}'.";
                }
            }

            var description = String(body, "description");
            var customerId = String(body, "customerId");
            if (customerId is not null && !JsonFields.CustomerId().IsMatch(customerId))
            {
                return "customerId must match ^[A-Za-z0-9_.:@-]{1,128}$.";
            }

            if (description is { Length: > 1000 })
            {
                return "description is longer than 1000 characters.";
            }

            record = new ApiKeyRecord
            {
                Id = "key_" + Base62.Random(20),
                OrgId = org,
                Name = name,
                Prefix = prefix,
                Hash = hash,
                Environment = environment,
                Scopes = scopes,
                Description = description,
                CreatedBy = "import",
                CreatedAt = now,
                UpdatedAt = now,
                CustomerId = customerId,
                Version = 1,
            };
            return null;
        }
    }

    private static string? String(JsonElement body, string name) =>
        body.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String ? value.GetString() : null;
}
