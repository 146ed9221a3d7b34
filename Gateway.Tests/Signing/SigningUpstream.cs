using System.Collections.Concurrent;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Gateway.Tests.Signing;

/// <summary>
/// A real Kestrel upstream that records what a verifier needs: every header line as a pair (Kestrel keeps a
/// repeated header as several values, which become several pairs), the raw request target and the body.
/// </summary>
public sealed class SigningUpstream : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly ConcurrentQueue<CapturedRequest> _received = new();

    private SigningUpstream(WebApplication app) => _app = app;

    public string Url { get; private set; } = "";

    public int Port => new Uri(Url).Port;

    public static async Task<SigningUpstream> StartAsync()
    {
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { Args = [], ContentRootPath = Path.GetTempPath() });
        builder.Configuration.Sources.Clear();
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?> { ["urls"] = "http://127.0.0.1:0" });
        builder.Logging.ClearProviders();
        var app = builder.Build();
        var upstream = new SigningUpstream(app);
        app.Run(async context =>
        {
            using var body = new MemoryStream();
            await context.Request.Body.CopyToAsync(body);
            var headers = context.Request.Headers.SelectMany(h => h.Value.Select(v => KeyValuePair.Create(h.Key, v ?? ""))).ToList();
            upstream._received.Enqueue(new CapturedRequest(context.Request.Method, context.Features.Get<IHttpRequestFeature>()!.RawTarget, headers, body.ToArray()));
            await context.Response.WriteAsync("upstream ok");
        });
        await app.StartAsync();
        upstream.Url = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First().TrimEnd('/') + "/";
        return upstream;
    }

    public CapturedRequest Only()
    {
        var received = _received.ToArray();
        Assert.That(received, Has.Length.EqualTo(1), "the upstream should have received exactly one request");
        return received[0];
    }

    public void Reset() => _received.Clear();

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}

/// <summary>One request as the upstream saw it.</summary>
public sealed record CapturedRequest(string Method, string RawTarget, IReadOnlyList<KeyValuePair<string, string>> Headers, byte[] Body)
{
    /// <summary>The only value of <paramref name="name"/> (any letter case), or null.</summary>
    public string? Header(string name) => Headers.SingleOrDefault(h => h.Key.Equals(name, StringComparison.OrdinalIgnoreCase)).Value;

    /// <summary>The headers with <paramref name="name"/> replaced (or removed when <paramref name="value"/> is null).</summary>
    public List<KeyValuePair<string, string>> With(string name, string? value)
    {
        var headers = Headers.Where(h => !h.Key.Equals(name, StringComparison.OrdinalIgnoreCase)).ToList();
        if (value is not null)
        {
            headers.Add(KeyValuePair.Create(name, value));
        }

        return headers;
    }

    /// <summary>The headers with a forged copy of <paramref name="name"/> inserted before the genuine one.</summary>
    public List<KeyValuePair<string, string>> WithDuplicate(string name, string value)
    {
        var headers = Headers.ToList();
        var at = headers.FindIndex(h => GatewayNames.Same(h.Key, name));
        headers.Insert(at < 0 ? 0 : at, KeyValuePair.Create(name, value));
        return headers;
    }

    public long SignedAt => long.Parse(Header("X-Gateway-Signature")!.Split(',')[0][2..], System.Globalization.CultureInfo.InvariantCulture);

    public string Member(string name) => Header("X-Gateway-Signature")!.Split(',').Single(p => p.StartsWith(name + "=", StringComparison.Ordinal))[(name.Length + 1)..];
}

internal static class GatewayNames
{
    public static bool Same(string a, string b) => a.Replace('_', '-').Equals(b.Replace('_', '-'), StringComparison.OrdinalIgnoreCase);
}
