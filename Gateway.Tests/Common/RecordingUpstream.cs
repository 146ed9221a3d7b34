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
/// A small real Kestrel upstream on a free loopback port that answers 200 and records what a verifier needs of
/// each request: its method, raw request target (as sent on the wire, not decoded), every header line as a pair
/// (Kestrel keeps a repeated header as several values, which become several pairs) and the body.
/// </summary>
public sealed class RecordingUpstream : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly ConcurrentQueue<ReceivedRequest> _received = new();

    private RecordingUpstream(WebApplication app) => _app = app;

    public string Url { get; private set; } = "";

    public int Port => new Uri(Url).Port;

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
        app.Run(async context =>
        {
            using var body = new MemoryStream();
            await context.Request.Body.CopyToAsync(body);
            var lines = context.Request.Headers.SelectMany(h => h.Value.Select(v => KeyValuePair.Create(h.Key, v ?? ""))).ToList();
            upstream._received.Enqueue(new ReceivedRequest(context.Request.Method, context.Features.Get<IHttpRequestFeature>()!.RawTarget, lines, body.ToArray()));
            await context.Response.WriteAsync("upstream ok");
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

/// <summary>
/// One request as an upstream saw it: its header lines in order (<see cref="HeaderLines"/>, what a signature verifier
/// reads) and, for lookups by name, <see cref="Headers"/>: one value per name, repeated values joined with commas as
/// Kestrel joins them, any letter case.
/// </summary>
public sealed record ReceivedRequest(string Method, string RawTarget, IReadOnlyList<KeyValuePair<string, string>> HeaderLines, byte[] Body)
{
    public IReadOnlyDictionary<string, string> Headers { get; } = HeaderLines
        .GroupBy(h => h.Key, StringComparer.OrdinalIgnoreCase)
        .ToDictionary(g => g.Key, g => string.Join(',', g.Select(h => h.Value)), StringComparer.OrdinalIgnoreCase);

    public string? Header(string name) => Headers.TryGetValue(name, out var value) ? value : null;

    /// <summary>The header lines with <paramref name="name"/> replaced (or removed when <paramref name="value"/> is null).</summary>
    public List<KeyValuePair<string, string>> With(string name, string? value)
    {
        var headers = HeaderLines.Where(h => !h.Key.Equals(name, StringComparison.OrdinalIgnoreCase)).ToList();
        if (value is not null)
        {
            headers.Add(KeyValuePair.Create(name, value));
        }

        return headers;
    }

    /// <summary>The header lines with a forged copy of <paramref name="name"/> inserted before the genuine one.</summary>
    public List<KeyValuePair<string, string>> WithDuplicate(string name, string value)
    {
        var headers = HeaderLines.ToList();
        var at = headers.FindIndex(h => SameHeaderName(h.Key, name));
        headers.Insert(at < 0 ? 0 : at, KeyValuePair.Create(name, value));
        return headers;
    }

    /// <summary>The <c>t</c> member of X-Gateway-Signature.</summary>
    public long SignedAt => long.Parse(Member("t"), System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>One member (<c>n</c>, <c>v1</c>, …) of X-Gateway-Signature.</summary>
    public string Member(string name) => Header("X-Gateway-Signature")!.Split(',').Single(p => p.StartsWith(name + "=", StringComparison.Ordinal))[(name.Length + 1)..];

    /// <summary>Whether two header names are the same to a server that reads '_' as '-' (as CGI-style servers do).</summary>
    public static bool SameHeaderName(string a, string b) => a.Replace('_', '-').Equals(b.Replace('_', '-'), StringComparison.OrdinalIgnoreCase);
}
