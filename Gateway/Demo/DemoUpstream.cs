using System.Text.Json;
using Gateway.Configuration;
using Microsoft.Extensions.Options;

namespace Gateway.Demo;

/// <summary>
/// A tiny upstream the gateway hosts itself when <c>Gateway:Demo:Enabled</c> is true, so a first run
/// has something to call: it answers every request with JSON echoing the method, path and the headers
/// it received, which shows what the gateway stamped and what it removed.
/// </summary>
internal sealed class DemoUpstream(IOptions<GatewayOptions> options) : IHostedService, IAsyncDisposable
{
    private WebApplication? _app;

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        var demo = options.Value.Demo;
        if (!demo.Enabled)
        {
            return;
        }

        // An empty builder: a default one would read the gateway's own appsettings.json and bind its listeners.
        var builder = WebApplication.CreateEmptyBuilder(new WebApplicationOptions());
        builder.WebHost.UseKestrelCore().UseUrls(demo.Url);
        _app = builder.Build();
        _app.Run(EchoAsync);
        try
        {
            await _app.StartAsync(cancellationToken);
        }
        catch (IOException ex)
        {
            // Typically a second gateway on this host with the demo on: say so in one line.
            throw new InvalidOperationException(
                $"Gateway:Demo:Url {demo.Url} is in use ({ex.InnerException?.Message ?? ex.Message}); is another gateway with the demo running? Set Gateway:Demo:Url to a free port or Gateway:Demo:Enabled to false.");
        }
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        if (_app is not null)
        {
            await _app.StopAsync(cancellationToken);
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (_app is not null)
        {
            await _app.DisposeAsync();
        }
    }

    private static async Task EchoAsync(HttpContext context)
    {
        context.Response.ContentType = "application/json";
        await using var json = new Utf8JsonWriter(context.Response.Body, new JsonWriterOptions { Indented = true });
        json.WriteStartObject();
        json.WriteString("upstream", "gateway-demo");
        json.WriteString("method", context.Request.Method);
        json.WriteString("path", context.Request.Path + context.Request.QueryString);
        json.WriteStartObject("headers");
        foreach (var (name, values) in context.Request.Headers.OrderBy(h => h.Key, StringComparer.OrdinalIgnoreCase))
        {
            json.WriteString(name, values.ToString());
        }

        json.WriteEndObject();
        json.WriteEndObject();
        await json.FlushAsync();
    }
}
