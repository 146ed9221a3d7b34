using Gateway.Hosting;
using Microsoft.Extensions.Options;

var builder = WebApplication.CreateBuilder(args);
builder.AddGateway();

var app = builder.Build();
app.UseGateway();

try
{
    await app.RunAsync();
    return 0;
}
catch (OptionsValidationException ex)
{
    // One line per bad setting, each naming the setting, instead of a stack trace.
    await Console.Error.WriteLineAsync("Gateway did not start: invalid configuration.");
    foreach (var failure in ex.Failures)
    {
        await Console.Error.WriteLineAsync("  " + failure);
    }

    return 1;
}

public partial class Program;
