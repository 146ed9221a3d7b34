using System.CommandLine;
using Gateway.Configuration;
using Gateway.Stores.Sqlite;

namespace Gateway.Cli;

/// <summary>
/// <c>Gateway backup &lt;file&gt;</c> and <c>Gateway restore &lt;file&gt;</c> for the embedded SQLite store.
/// The store path comes from the same settings a gateway started here would read (or <c>--store</c>).
/// A Redis store is backed up with Redis's own tools.
/// </summary>
internal static class BackupCommands
{
    public static IEnumerable<Command> Create(TextWriter output, TextWriter error)
    {
        var store = new Option<string?>("--store") { Description = "SQLite store file (default: Gateway:Store:Path from appsettings.json and the environment)." };
        var file = new Argument<string>("file") { Description = "Backup file." };

        var backup = new Command("backup", "Copy the embedded store into a new file, consistently, while gateways run.") { file, store };
        backup.SetAction(result => Run(result, store, error, path =>
        {
            var target = Path.GetFullPath(result.GetValue(file)!);
            var version = SqliteBackup.Backup(path, target);
            output.WriteLine($"Backed up '{path}' (schema version {version}) to '{target}'.");
        }));

        var restore = new Command("restore", "Replace the embedded store's content with a backup; refused while a gateway uses the store.") { file, store };
        restore.SetAction(result => Run(result, store, error, path =>
        {
            var source = Path.GetFullPath(result.GetValue(file)!);
            var version = SqliteBackup.Restore(source, path);
            output.WriteLine($"Restored '{source}' (schema version {version}) into '{path}'.");
        }));

        return [backup, restore];
    }

    private static int Run(ParseResult result, Option<string?> storeOption, TextWriter error, Action<string> action)
    {
        var settings = CliConfiguration.Load();
        if (result.GetValue(storeOption) is null && !string.IsNullOrWhiteSpace(settings[$"{GatewayOptions.SectionName}:Store:Redis"]))
        {
            error.WriteLine("Gateway:Store:Redis is set: the store is Redis. Back it up with Redis (RDB snapshots or AOF, see docs/operations.md).");
            return 1;
        }

        var path = Path.GetFullPath(result.GetValue(storeOption) ?? settings[$"{GatewayOptions.SectionName}:Store:Path"] ?? new StoreOptions().Path);
        try
        {
            action(path);
            return 0;
        }
        catch (BackupException ex)
        {
            error.WriteLine(ex.Message);
            return 1;
        }
        catch (IOException ex)
        {
            error.WriteLine(ex.Message);
            return 1;
        }
    }
}
