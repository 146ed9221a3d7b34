using Gateway.Cli;
using Gateway.Hosting;
using Microsoft.Extensions.Options;

if (AdminCli.Handles(args))
{
    return await AdminCli.RunAsync(args, Console.Out, Console.Error);
}

try
{
    var builder = WebApplication.CreateBuilder(new WebApplicationOptions { Args = args, ContentRootPath = GatewayHostingExtensions.SettingsDirectory() });
    builder.AddGateway();

    var app = builder.Build();
    app.UseGateway();

    return await GatewayRun.RunAsync(app, Console.Error);
}
catch (Exception ex) when (ex is OptionsValidationException or InvalidOperationException or IOException)
{
    // Bad settings, a rejected route config or a port in use: say which, without a stack trace.
    var failures = StartupFailure.Describe(ex).ToList();
    if (failures.Count == 1)
    {
        await Console.Error.WriteLineAsync("Gateway did not start: " + failures[0]);
    }
    else
    {
        await Console.Error.WriteLineAsync("Gateway did not start:");
        foreach (var failure in failures)
        {
            await Console.Error.WriteLineAsync("  " + failure);
        }
    }

    return 1;
}

public partial class Program;
