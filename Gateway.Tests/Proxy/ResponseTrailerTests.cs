using System.Net;
using Gateway.Tests.Common;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Gateway.Tests.Proxy;

/// <summary>
/// Response trailers reach an HTTP/2 client as YARP copies them after the body, past the response transforms that keep
/// the gateway's own headers: an upstream's <c>X-RateLimit-Remaining: 999999</c> trailer would stand beside the
/// gateway's header and tell the client a limit the gateway never granted. The upstream is a real Kestrel app over h2c,
/// the only kind of upstream here that sends trailers.
/// </summary>
public sealed class ResponseTrailerTests
{
    private static readonly string[] GatewayOwned =
    [
        "X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset",
        "X-Quota-Limit", "X-Quota-Remaining", "X-Quota-Reset", "X-Credits-Remaining",
        "X-Request-Id", "Retry-After",
    ];

    [Test]
    public async Task UpstreamSendsGatewayOwnedTrailers_Http2ClientSeesOnlyItsOwnTrailers()
    {
        await using var upstream = await TrailingUpstream.StartAsync(response =>
        {
            foreach (var name in GatewayOwned)
            {
                response.AppendTrailer(name, "424242");
            }

            response.AppendTrailer("Grpc-Status", "0");
            response.AppendTrailer("X-Checksum", "abc");
        });
        var settings = GatewayHost.Routes(upstream.Url, ("api", "/api/{**rest}", []));
        settings["ReverseProxy:Clusters:upstream:HttpRequest:Version"] = "2";
        settings["ReverseProxy:Clusters:upstream:HttpRequest:VersionPolicy"] = "RequestVersionExact";
        settings["Kestrel:Endpoints:Proxy:Protocols"] = "Http2";
        await using var gateway = await GatewayHost.StartAsync(settings);
        await gateway.CreateOrgAsync("acme");
        var key = (await gateway.CreateKeyAsync("acme", new { name = "k" })).Str("key");

        using var client = Http2Client(gateway);
        using var request = Http2Request("/api/x");
        request.Headers.TryAddWithoutValidation("Authorization", "Bearer " + key);
        using var response = await client.SendAsync(request);
        Assert.That(await response.Content.ReadAsStringAsync(), Is.EqualTo("upstream ok"));

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        Assert.That(response.Version, Is.EqualTo(HttpVersion.Version20));
        var trailers = response.TrailingHeaders.NonValidated.ToDictionary(h => h.Key, h => string.Join(",", h.Value), StringComparer.OrdinalIgnoreCase);
        Assert.Multiple(() =>
        {
            Assert.That(trailers.Keys, Has.None.AnyOf(GatewayOwned).IgnoreCase);
            Assert.That(trailers.GetValueOrDefault("Grpc-Status"), Is.EqualTo("0"));
            Assert.That(trailers.GetValueOrDefault("X-Checksum"), Is.EqualTo("abc"));
            Assert.That(response.Headers.GetValues("X-RateLimit-Remaining").Single(), Is.Not.EqualTo("424242"), "the header is the gateway's");
        });
    }

    /// <summary>A client of the proxy listener for requests made with <see cref="Http2Request"/>.</summary>
    internal static HttpClient Http2Client(GatewayHost gateway) =>
        new(new SocketsHttpHandler { UseCookies = false, AllowAutoRedirect = false }) { BaseAddress = gateway.ProxyUrl };

    /// <summary>A request sent over HTTP/2 without TLS (prior knowledge), the only way to a trailer from a plain listener.</summary>
    internal static HttpRequestMessage Http2Request(string path) =>
        new(HttpMethod.Get, path) { Version = HttpVersion.Version20, VersionPolicy = HttpVersionPolicy.RequestVersionExact };

    /// <summary>A Kestrel upstream on h2c (HTTP/2 without TLS) that answers "upstream ok" and then the trailers given.</summary>
    private sealed class TrailingUpstream : IAsyncDisposable
    {
        private readonly WebApplication _app;

        private TrailingUpstream(WebApplication app, string url)
        {
            _app = app;
            Url = url;
        }

        public string Url { get; }

        public static async Task<TrailingUpstream> StartAsync(Action<HttpResponse> trailers)
        {
            var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { Args = [], ContentRootPath = Path.GetTempPath() });
            // The test directory holds the gateway's appsettings.json, whose fixed Kestrel endpoints must not apply here.
            builder.Configuration.Sources.Clear();
            builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
            {
                ["Kestrel:Endpoints:h2c:Url"] = "http://127.0.0.1:0",
                ["Kestrel:Endpoints:h2c:Protocols"] = "Http2",
            });
            builder.Logging.ClearProviders();
            var app = builder.Build();
            app.Run(async context =>
            {
                await context.Response.WriteAsync("upstream ok");
                trailers(context.Response);
            });
            await app.StartAsync();
            var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
            return new TrailingUpstream(app, address.TrimEnd('/') + "/");
        }

        public async ValueTask DisposeAsync()
        {
            await _app.StopAsync();
            await _app.DisposeAsync();
        }
    }
}
