using System.CommandLine;
using Gateway.Configuration;
using Gateway.Domain;
using Gateway.Stores;
using Gateway.Stores.Redis;
using Gateway.Stores.Sqlite;
using Microsoft.Extensions.Options;

namespace Gateway.Cli;

/// <summary>
/// <c>Gateway migrate-store --to-redis &lt;connection&gt;</c>: copies orgs, keys (ids, hashes, versions,
/// last use) and audit logs from the embedded SQLite store into Redis, for moving a single instance to a
/// shared store. Idempotent: re-running overwrites the copied orgs with the source's state.
/// </summary>
internal static class StoreMigration
{
    internal static Command Command(TextWriter output, TextWriter error)
    {
        var from = new Option<string>("--from") { Description = "SQLite store file.", DefaultValueFactory = _ => "data/gateway.db" };
        var to = new Option<string>("--to-redis") { Description = "StackExchange.Redis connection string of the target.", Required = true };
        var prefix = new Option<string>("--prefix") { Description = "Gateway:Store:RedisPrefix of the target.", DefaultValueFactory = _ => "gw:" };
        var command = new Command("migrate-store", "Copy the embedded store's orgs, keys and audit log into Redis.") { from, to, prefix };
        command.SetAction(async (result, cancellationToken) =>
        {
            var path = result.GetValue(from)!;
            if (!File.Exists(path))
            {
                await error.WriteLineAsync($"No SQLite store at '{path}'.");
                return 1;
            }

            var source = new SqliteGatewayStore(Options.Create(new GatewayOptions { Store = { Path = path } }));
            using var redis = RedisConnection.Connect(result.GetValue(to)!, TimeSpan.FromSeconds(5));
            var target = new RedisGatewayStore(redis, Options.Create(new GatewayOptions { Store = { RedisPrefix = result.GetValue(prefix)! } }));
            try
            {
                var (orgs, keys, entries) = await CopyAsync(source, target, cancellationToken);
                await output.WriteLineAsync($"Copied {orgs} organizations, {keys} keys and {entries} audit entries into Redis.");
                return 0;
            }
            catch (StoreUnavailableException ex)
            {
                await error.WriteLineAsync($"Redis did not answer: {ex.InnerException?.Message ?? ex.Message}");
                return 2;
            }
        });
        return command;
    }

    internal static async Task<(int Orgs, int Keys, int AuditEntries)> CopyAsync(IGatewayStore source, RedisGatewayStore target, CancellationToken cancellationToken)
    {
        var (orgCount, keyCount, auditCount) = (0, 0, 0);
        foreach (var org in await source.ListOrganizationsAsync(cancellationToken))
        {
            var keys = await source.ListKeysAsync(org.Id, cancellationToken);
            var audit = new List<AuditEntry>();
            string? cursor = null;
            do
            {
                var page = await source.ListAuditAsync(org.Id, cursor, 500, cancellationToken);
                audit.AddRange(page.Items);
                cursor = page.NextCursor;
            }
            while (cursor is not null);

            audit.Reverse();
            await target.ImportAsync(org, keys, audit, cancellationToken);
            (orgCount, keyCount, auditCount) = (orgCount + 1, keyCount + keys.Count, auditCount + audit.Count);
        }

        return (orgCount, keyCount, auditCount);
    }
}
