using System.CommandLine;
using Gateway.Configuration;
using Gateway.Customers;
using Gateway.Domain;
using Gateway.Operators;
using Gateway.RateLimiting;
using Gateway.Stores;
using Gateway.Stores.Redis;
using Gateway.Stores.Sqlite;
using Gateway.Webhooks;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace Gateway.Cli;

/// <summary>
/// <c>Gateway migrate-store --to-redis &lt;connection&gt;</c>: copies quota and credit counters, admin tokens,
/// customers and webhooks (<see cref="StoreMigrationFeatures"/>), then orgs, keys (ids, hashes, grace periods,
/// last use) and audit logs, from the embedded SQLite store into Redis, for moving a single instance to a
/// shared store. Safe to run again (docs/redis.md): each copied key keeps a record of the copy on Redis, so a
/// key changed only in SQLite since is updated, a key changed only on Redis is left untouched, and a key
/// changed on both sides is a conflict: left as Redis has it, listed, and the command exits 4. A key revoked
/// on Redis is never overwritten.
/// </summary>
internal static class StoreMigration
{
    /// <summary>Exit code when keys were changed on both sides since the last copy.</summary>
    public const int ConflictExitCode = 4;

    /// <summary>Exit code when keys were not copied because their name is taken in Redis.</summary>
    public const int NameTakenExitCode = 3;

    /// <summary>Exit code when Redis answered with an error (an ACL user without a right the copy needs): not an outage.</summary>
    public const int RefusedExitCode = 5;

    internal static Command Command(TextWriter output, TextWriter error)
    {
        var from = new Option<string>("--from") { Description = "SQLite store file.", DefaultValueFactory = _ => "data/gateway.db" };
        var to = new Option<string>("--to-redis") { Description = "StackExchange.Redis connection string of the target.", Required = true };
        var prefix = new Option<string>("--prefix") { Description = "Gateway:Store:RedisPrefix of the target.", DefaultValueFactory = _ => "gw:" };
        var keepRedis = new Option<bool>("--keep-redis") { Description = "Settle keys changed on both sides since the last copy in Redis's favour: Redis's record stays, the SQLite change is dropped." };
        var command = new Command("migrate-store", "Copy the embedded store's orgs, keys, audit log, admin tokens, customers and webhooks into Redis.") { from, to, prefix, keepRedis };
        command.SetAction(async (result, cancellationToken) =>
        {
            var path = result.GetValue(from)!;
            if (!File.Exists(path))
            {
                await error.WriteLineAsync($"No SQLite store at '{path}'.");
                return 1;
            }

            // Checked before anything is read: a file that is no store (or a damaged one) ended in an unhandled
            // SqliteException and its stack trace, or, where the store wrapped it, in "Redis did not answer".
            try
            {
                var version = SqliteBackup.Verify(Path.GetFullPath(path));
                if (version != SqliteGatewayStore.SchemaVersion)
                {
                    await error.WriteLineAsync(string.Create(System.Globalization.CultureInfo.InvariantCulture,
                        $"'{Path.GetFullPath(path)}' has schema version {version}; migrate-store reads version {SqliteGatewayStore.SchemaVersion}: start this gateway version on it once (it upgrades the schema), stop it, then run migrate-store."));
                    return 1;
                }
            }
            catch (BackupException ex)
            {
                await error.WriteLineAsync(ex.Message);
                return 1;
            }

            var sourceOptions = Options.Create(new GatewayOptions { Store = { Path = path } });
            var source = new SqliteGatewayStore(sourceOptions);
            using var redis = RedisConnection.Connect(result.GetValue(to)!, TimeSpan.FromSeconds(5));
            var targetOptions = Options.Create(new GatewayOptions { Store = { RedisPrefix = result.GetValue(prefix)! } });
            var target = new RedisGatewayStore(redis, targetOptions);
            var progress = new MigrationProgress();
            try
            {
                // Keys last: a gateway that finds a key on Redis finds its customer's quota and the counts already used.
                var features = await StoreMigrationFeatures.CopyAsync(
                    progress,
                    source,
                    new SqliteOperatorTokenStore(sourceOptions),
                    new SqliteCustomerStore(sourceOptions),
                    new SqliteWebhookStore(sourceOptions),
                    new SqliteQuotaCounterStore(sourceOptions),
                    new RedisOperatorTokenStore(redis, targetOptions),
                    new RedisCustomerStore(redis, targetOptions),
                    new RedisWebhookStore(redis, targetOptions),
                    redis.GetDatabase(),
                    targetOptions.Value.Store.RedisPrefix,
                    result.GetValue(keepRedis),
                    cancellationToken);
                progress.Start(MigrationProgress.Keys);
                var total = await CopyAsync(source, target, result.GetValue(keepRedis), features.CustomerConflicts, progress, cancellationToken);
                var code = await ReportAsync(total, output, error);
                await output.WriteLineAsync(features.Summary());
                await output.WriteLineAsync("Usage history (GET .../usage) is not copied: on Redis it starts from the move; read it from the SQLite gateway or a backup for the time before.");
                foreach (var kept in features.CustomersKeptRedis)
                {
                    await output.WriteLineAsync($"  kept Redis's record of customer {kept}; the SQLite change is dropped.");
                }

                if (features.CustomerConflicts.Count > 0)
                {
                    await error.WriteLineAsync($"{features.CustomerConflicts.Count} customers were not copied: they changed in SQLite and on Redis since the last copy, and Redis's record was left as it is.");
                    foreach (var (orgId, id) in features.CustomerConflicts)
                    {
                        await error.WriteLineAsync($"  conflict: customer {orgId}/{id}");
                    }

                    await error.WriteLineAsync("Make the SQLite-side changes you still want through the admin API of the gateways on Redis, then run again with --keep-redis to settle these customers as Redis has them.");
                    code = ConflictExitCode;
                }
                if (features.TokensNameTaken.Count > 0)
                {
                    await error.WriteLineAsync($"{features.TokensNameTaken.Count} admin tokens were not copied: a live token on Redis has their name.");
                    foreach (var taken in features.TokensNameTaken)
                    {
                        await error.WriteLineAsync($"  name taken: {taken}");
                    }

                    code = code == 0 ? NameTakenExitCode : code;
                }

                return code;
            }
            catch (Exception ex) when (Refusal(ex) is { } refusal)
            {
                // Redis answered, with an error: blaming the connection sent operators looking for a network problem.
                await error.WriteLineAsync($"Redis refused {RefusedCommand(refusal.Message)}: {refusal.Message}");
                await error.WriteLineAsync(
                    "migrate-store needs the rights the gateway needs on Redis. For an ACL user, those of docs/redis.md (\"Password and ACL user\"): "
                    + $"ACL SETUSER <user> on ><password> {AclRules(result.GetValue(prefix)!)}");
                await WritePartWayAsync(progress, error);
                return RefusedExitCode;
            }
            catch (Exception ex) when (ex is RedisException or StoreUnavailableException)
            {
                await error.WriteLineAsync($"Redis did not answer: {(ex as StoreUnavailableException)?.InnerException?.Message ?? ex.Message}");
                await WritePartWayAsync(progress, error);
                return 2;
            }
        });
        return command;
    }

    /// <summary>
    /// The ACL rules docs/redis.md gives the gateway's user, with its key and channel patterns for
    /// <paramref name="prefix"/>: everything migrate-store sends is within them (scripts, no MULTI/EXEC).
    /// </summary>
    internal static string AclRules(string prefix) =>
        $"resetkeys ~{prefix}* resetchannels &{prefix}* -@all +@connection +@read +@write +eval +evalsha +script|load +publish +subscribe +unsubscribe +time -@dangerous +info +cluster|nodes";

    /// <param name="heldBackCustomers">Customers left in conflict: their audit entries wait for the run that copies or settles them, so Redis's log shows only changes Redis holds.</param>
    internal static async Task<CopyTotals> CopyAsync(IGatewayStore source, RedisGatewayStore target, bool keepRedisOnConflict, IReadOnlySet<(string OrgId, string Id)> heldBackCustomers, MigrationProgress progress, CancellationToken cancellationToken)
    {
        var total = new CopyTotals();
        foreach (var org in await source.ListOrganizationsAsync(cancellationToken))
        {
            progress.At(org.Id);
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

            audit.RemoveAll(e => CustomerAudit.CustomerId(e) is { } customer && heldBackCustomers.Contains((org.Id, customer)));
            audit.Reverse();
            total.Add(await target.ImportAsync(org, keys, audit, keepRedisOnConflict, cancellationToken));
        }

        return total;
    }

    /// <summary>The server's error reply behind <paramref name="ex"/>, if Redis answered with one (a store call wraps it).</summary>
    private static RedisServerException? Refusal(Exception? ex)
    {
        for (; ex is not null; ex = ex.InnerException)
        {
            if (ex is RedisServerException refusal)
            {
                return refusal;
            }
        }

        return null;
    }

    /// <summary>"the 'exec' command" when the reply names one (NOPERM does), else "a command".</summary>
    private static string RefusedCommand(string reply) =>
        System.Text.RegularExpressions.Regex.Match(reply, "'([^']+)' command", System.Text.RegularExpressions.RegexOptions.None, TimeSpan.FromSeconds(1)) is { Success: true } match
            ? $"the '{match.Groups[1].Value}' command"
            : "a command";

    private static async Task WritePartWayAsync(MigrationProgress progress, TextWriter error)
    {
        if (progress.Describe() is { } partWay)
        {
            await error.WriteLineAsync(partWay);
            await error.WriteLineAsync(
                "Nothing copied is undone. Running migrate-store again is safe: it copies what is missing and nothing twice "
                + "(keys by their record of the copy, counters by the SQLite count last carried). Until a run completes, "
                + "the Redis store is incomplete: do not move gateways to it yet.");
        }
    }

    /// <summary>
    /// Says what happened to every key: "untouched" counts only keys whose Redis record this run did not
    /// write. Conflicts and name clashes are listed one per line on stderr.
    /// </summary>
    private static async Task<int> ReportAsync(CopyTotals total, TextWriter output, TextWriter error)
    {
        var untouched = total.KeysUnchanged + total.KeysChangedOnRedis + total.ConflictsKeptRedis.Count;
        await output.WriteLineAsync(string.Create(System.Globalization.CultureInfo.InvariantCulture,
            $"Organizations: {total.OrganizationsCreated} created, {total.Organizations - total.OrganizationsCreated} already in Redis. "
            + $"Keys: {total.KeysCreated} created, {total.KeysUpdated} updated from SQLite; {untouched} untouched ({total.KeysUnchanged} unchanged since the last copy, {total.KeysChangedOnRedis} changed only on Redis, {total.ConflictsKeptRedis.Count} changed on both sides and kept as Redis has them); "
            + $"{total.Conflicts.Count} in conflict, {total.NameTaken.Count} not copied (name taken). Audit entries: {total.AuditAppended} appended."));
        foreach (var kept in total.ConflictsKeptRedis)
        {
            await output.WriteLineAsync($"  kept Redis's record of {kept.Id} ({kept.OrgId}/{kept.Name}): {kept.Reason}; the SQLite change is dropped.");
        }

        if (total.Conflicts.Count > 0)
        {
            await error.WriteLineAsync($"{total.Conflicts.Count} keys were not copied: they changed in SQLite and on Redis since the last copy, and Redis's record was left as it is.");
            foreach (var conflict in total.Conflicts)
            {
                await error.WriteLineAsync($"  conflict: {conflict.Id} ({conflict.OrgId}/{conflict.Name}): {conflict.Reason}");
            }

            await error.WriteLineAsync("Make the SQLite-side changes you still want through the admin API of the gateways on Redis, then run again with --keep-redis to settle these keys as Redis has them.");
        }

        if (total.NameTaken.Count > 0)
        {
            await error.WriteLineAsync($"{total.NameTaken.Count} keys were not copied: another key in Redis has their name.");
            foreach (var taken in total.NameTaken)
            {
                await error.WriteLineAsync($"  name taken: {taken.Id} ({taken.OrgId}/{taken.Name})");
            }
        }

        return total.Conflicts.Count > 0 ? ConflictExitCode : total.NameTaken.Count > 0 ? NameTakenExitCode : 0;
    }

    /// <summary>The results of every organization, added up.</summary>
    internal sealed class CopyTotals
    {
        public int Organizations { get; private set; }

        public int OrganizationsCreated { get; private set; }

        public int KeysCreated { get; private set; }

        public int KeysUpdated { get; private set; }

        public int KeysUnchanged { get; private set; }

        public int KeysChangedOnRedis { get; private set; }

        public int AuditAppended { get; private set; }

        public List<ImportedKey> Conflicts { get; } = [];

        public List<ImportedKey> ConflictsKeptRedis { get; } = [];

        public List<ImportedKey> NameTaken { get; } = [];

        public void Add(ImportResult result)
        {
            Organizations++;
            OrganizationsCreated += result.OrganizationCreated ? 1 : 0;
            KeysCreated += result.KeysCreated;
            KeysUpdated += result.KeysUpdated;
            KeysUnchanged += result.KeysUnchanged;
            KeysChangedOnRedis += result.KeysChangedOnRedis;
            AuditAppended += result.AuditAppended;
            Conflicts.AddRange(result.Conflicts);
            ConflictsKeptRedis.AddRange(result.ConflictsKeptRedis);
            NameTaken.AddRange(result.NameTaken);
        }
    }
}
