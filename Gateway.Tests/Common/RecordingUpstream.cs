using System.Collections.Concurrent;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Gateway.Tests.Common;

/// <summary>
/// A small real Kestrel upstream on a free loopback port that answers 200 and records each request's
/// method, raw request target (as sent on the wire, not decoded) and headers.
/// </summary>
public sealed class RecordingUpstream : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly ConcurrentQueue<ReceivedRequest> _received = new();

    private RecordingUpstream(WebApplication app) => _app = app;

    public string Url { get; private set; } = "";

    public IReadOnlyList<ReceivedRequest> Received => [.. _received];

    public static async Task<RecordingUpstream> StartAsync()
    {
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { Args = [], ContentRootPath = Path.GetTempPath() });
        // The test directory holds the gateway's appsettings.json, whose fixed Kestrel endpoints must not apply here.
        builder.Configuration.Sources.Clear();
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?> { ["urls"] = "http://127.0.0.1:0" });
        builder.Logging.ClearProviders();
        var app = builder.Build();
        var upstream = new RecordingUpstream(app);
        app.Run(context =>
        {
            var headers = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
            foreach (var (name, value) in context.Request.Headers)
            {
                headers[name] = value.ToString();
            }

            upstream._received.Enqueue(new ReceivedRequest(context.Request.Method, context.Features.Get<IHttpRequestFeature>()!.RawTarget, headers));
            return context.Response.WriteAsync("upstream ok");
        });
        await app.StartAsync();
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        upstream.Url = address.TrimEnd('/') + "/";
        return upstream;
    }

    public ReceivedRequest Only()
    {
        var received = Received;
        Assert.That(received, Has.Count.EqualTo(1), "the upstream should have received exactly one request");
        return received[0];
    }

    public void Reset() => _received.Clear();

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}

/// <summary>One request as an upstream saw it; header lookups are case-insensitive.</summary>
public sealed record ReceivedRequest(string Method, string RawTarget, IReadOnlyDictionary<string, string> Headers)
{
    public string? Header(string name) => Headers.TryGetValue(name, out var value) ? value : null;
}
