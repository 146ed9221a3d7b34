using System.Collections.Concurrent;
using System.Net;
using System.Text;
using Gateway.Tests.Common;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Gateway.Tests.RequestLog;

/// <summary>
/// The request log's OpenTelemetry export, received by a real OTLP/HTTP endpoint (a Kestrel app taking
/// <c>POST /v1/logs</c> with a protobuf body). Protobuf carries strings as UTF-8 bytes, so the raw body is searched.
/// </summary>
public sealed class RequestLogOtlpTests
{
    [Test]
    public async Task Export_OtlpHttpReceiver_GetsEachRecord_NeverTheKeyOrQueryString()
    {
        await using var receiver = await OtlpReceiver.StartAsync();
        using var upstream = Upstream.Start();
        var settings = GatewayHost.Routes(upstream.Url, ("orders", "/orders/{**rest}", []));
        // Set as the gateway's settings (not environment variables): the export reads them where every other setting is read.
        settings["OTEL_EXPORTER_OTLP_ENDPOINT"] = receiver.Url;
        settings["OTEL_EXPORTER_OTLP_PROTOCOL"] = "http/protobuf";
        await using var gateway = await GatewayHost.StartAsync(settings);
        await gateway.CreateOrgAsync("acme");
        var created = await gateway.CreateKeyAsync("acme", new { name = "svc", customerId = "cust-otlp" });
        var key = created.Str("key");

        string admitted;
        using (var ok = await gateway.CallAsync("/orders/42?access_token=query-secret-1&page=2", key))
        {
            Assert.That(ok.StatusCode, Is.EqualTo(HttpStatusCode.OK));
            admitted = ok.Headers.GetValues("X-Request-Id").Single();
        }

        const string wrongKey = "gw_live_notARealKeyButLooksLikeOne0000000000";
        string refused;
        using (var bad = await gateway.CallAsync("/orders/7?sig=query-secret-2", wrongKey))
        {
            Assert.That(bad.StatusCode, Is.EqualTo(HttpStatusCode.Unauthorized));
            refused = bad.Headers.GetValues("X-Request-Id").Single();
        }

        var body = await Eventually.ValueAsync(
            () => Task.FromResult(receiver.LogsText),
            text => text.Contains(admitted, StringComparison.Ordinal) && text.Contains(refused, StringComparison.Ordinal),
            TimeSpan.FromSeconds(20),
            "both request ids exported to /v1/logs");

        Assert.That(receiver.ContentTypes, Is.All.EqualTo("application/x-protobuf"));
        Assert.That(body, Does.Contain("Gateway.RequestLog"), "the category (instrumentation scope)");
        Assert.That(body, Does.Contain("orders"), "the route");
        Assert.That(body, Does.Contain("/orders/42"), "the path");
        Assert.That(body, Does.Contain(created.Str("id")));
        Assert.That(body, Does.Contain("cust-otlp"));
        Assert.That(body, Does.Contain("invalid_key"), "the refusal's code");
        Assert.That(body, Does.Not.Contain(key), "never the API key");
        Assert.That(body, Does.Not.Contain(wrongKey), "not even a wrong one");
        Assert.That(body, Does.Not.Contain(key[..16]), "nor a long part of it");
        Assert.That(body, Does.Not.Contain("query-secret"), "never a query string");
        Assert.That(body, Does.Not.Contain("page=2"));
    }

    /// <summary>An OTLP/HTTP endpoint on a free loopback port: keeps what is posted to /v1/logs, accepts traces and metrics unread.</summary>
    private sealed class OtlpReceiver : IAsyncDisposable
    {
        private readonly WebApplication _app;
        private readonly ConcurrentQueue<(string ContentType, byte[] Body)> _logs = new();

        private OtlpReceiver(WebApplication app) => _app = app;

        public string Url { get; private set; } = "";

        /// <summary>Every body posted to /v1/logs, as text (protobuf strings are UTF-8 inside it).</summary>
        public string LogsText => string.Concat(_logs.Select(l => Encoding.UTF8.GetString(l.Body)));

        public IEnumerable<string> ContentTypes => _logs.Select(l => l.ContentType);

        public static async Task<OtlpReceiver> StartAsync()
        {
            // Its own content root: the test directory's appsettings.json (the gateway's, with its listeners) must not apply.
            var root = Directory.CreateTempSubdirectory("otlp-receiver").FullName;
            var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { ContentRootPath = root, Args = [] });
            builder.WebHost.ConfigureKestrel(kestrel => kestrel.Listen(IPAddress.Loopback, 0));
            builder.Logging.ClearProviders();
            var app = builder.Build();
            var receiver = new OtlpReceiver(app);
            app.MapPost("/v1/logs", async (HttpContext context) =>
            {
                using var buffer = new MemoryStream();
                await context.Request.Body.CopyToAsync(buffer);
                receiver._logs.Enqueue((context.Request.ContentType ?? "", buffer.ToArray()));
                return Results.Ok();
            });
            app.MapPost("/v1/{signal}", () => Results.Ok());
            await app.StartAsync();
            receiver.Url = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.Single();
            return receiver;
        }

        public async ValueTask DisposeAsync() => await _app.DisposeAsync();
    }
}
