using System.Diagnostics;
using System.Net;
using Gateway.Keys;
using Gateway.Observability;
using Gateway.Tests.Common;
using Microsoft.Extensions.DependencyInjection;
using OpenTelemetry.Trace;
using WireMock.RequestBuilders;
using WireMock.ResponseBuilders;
using WireMock.Server;

namespace Gateway.Tests.Observability;

/// <summary>Spans through OpenTelemetry with an in-memory exporter; each request carries its own trace id.</summary>
public sealed class TracingTests : GatewayFixture
{
    private readonly List<Activity> _spans = [];
    private readonly ActivitySpanId _callerSpan = ActivitySpanId.CreateRandom();

    protected override Dictionary<string, string?> Settings(string upstream) =>
        GatewayHost.Routes(upstream, ("open", "/api/{**rest}", []));

    protected override void ConfigureServices(IServiceCollection services) =>
        services.AddOpenTelemetry().WithTracing(t => t.AddGatewayInstrumentation().AddInMemoryExporter(_spans));

    [Test]
    public async Task ProxiedRequest_Traced_HasStageStoreAndForwardSpansWithOrgAndKeyId()
    {
        var created = await Host.CreateOrgAsync("traced");
        var key = created.DefaultKey();
        var keyId = created.DefaultKeyId();

        var spans = await TracedCallAsync(key, HttpStatusCode.OK);

        var names = spans.Select(s => s.OperationName).ToList();
        Assert.That(names, Is.SupersetOf(new[] { "gateway.ip_limit", "gateway.authenticate", "gateway.store find_key", "gateway.rate_limit", "proxy.forwarder", "System.Net.Http.HttpRequestOut" }));
        var auth = spans.Single(s => s.OperationName == "gateway.authenticate");
        var request = spans.Single(s => s.Source.Name == "Microsoft.AspNetCore" && s.ParentSpanId == _callerSpan);
        var pipeline = spans.Single(s => s.OperationName == "proxy.forwarder");
        Assert.Multiple(() =>
        {
            Assert.That(auth.GetTagItem(GatewayTelemetry.OrgTag), Is.EqualTo("traced"));
            Assert.That(auth.GetTagItem(GatewayTelemetry.KeyTag), Is.EqualTo(keyId));
            Assert.That(request.GetTagItem(GatewayTelemetry.KeyTag), Is.EqualTo(keyId), "the request span carries the key id too");
            Assert.That(request.GetTagItem(GatewayTelemetry.OrgTag), Is.EqualTo("traced"));
            Assert.That(pipeline.ParentSpanId, Is.EqualTo(request.SpanId));
            Assert.That(spans.Single(s => s.OperationName == "gateway.store find_key").ParentSpanId, Is.EqualTo(auth.SpanId), "the store call is inside authentication");
            Assert.That(spans.Single(s => s.OperationName == "gateway.rate_limit").ParentSpanId, Is.EqualTo(pipeline.SpanId), "a stage span ends before the next stage starts");
            Assert.That(spans.Single(s => s.OperationName == "System.Net.Http.HttpRequestOut").ParentSpanId, Is.EqualTo(pipeline.SpanId), "the upstream call is not inside a stage span");
        });
        AssertNoKeyMaterial(spans, key);
    }

    [Test]
    public async Task RefusedRequest_Traced_MarksTheStageWithTheProblemCode()
    {
        var unknown = ApiKeyFormat.Generate("gw", "production");

        var spans = await TracedCallAsync(unknown, HttpStatusCode.Unauthorized);

        var auth = spans.Single(s => s.OperationName == "gateway.authenticate");
        Assert.That(auth.GetTagItem(GatewayTelemetry.RefusalTag), Is.EqualTo("invalid_key"));
        Assert.That(auth.GetTagItem(GatewayTelemetry.KeyTag), Is.Null);
        Assert.That(spans.Select(s => s.OperationName), Does.Not.Contain("System.Net.Http.HttpRequestOut"), "nothing was sent upstream");
        AssertNoKeyMaterial(spans, unknown);
    }

    // A client that puts its key in the path: the spans of others (HttpClient's url.full) carry the path as sent.
    [Test]
    public async Task KeyInThePath_Traced_NoSpanCarriesIt()
    {
        var created = await Host.CreateOrgAsync("traced-path");
        var key = created.DefaultKey();

        var spans = await TracedCallAsync(key, HttpStatusCode.OK, $"/api/{key}/x");

        // HttpClient's span of the upstream call carries the URL as sent (url.full): the processor has replaced the key.
        var upstream = spans.Single(s => s.OperationName == "System.Net.Http.HttpRequestOut");
        Assert.That(upstream.GetTagItem("url.full") as string, Does.EndWith("/api/gw_live_[redacted]/x"));
        AssertNoKeyMaterial(spans, key);
    }

    [Test]
    public async Task OtlpEndpointSet_ExportsTracesOverOtlp()
    {
        using var collector = WireMockServer.Start();
        collector.Given(Request.Create().UsingPost()).RespondWith(Response.Create().WithStatusCode(200));
        var settings = GatewayHost.Routes(Upstream.Url, ("open", "/api/{**rest}", []));
        settings["OTEL_EXPORTER_OTLP_ENDPOINT"] = collector.Url;
        settings["OTEL_EXPORTER_OTLP_PROTOCOL"] = "http/protobuf";
        settings["OTEL_BSP_SCHEDULE_DELAY"] = "100";
        await using var gateway = await GatewayHost.StartAsync(settings);

        Assert.That(await gateway.StatusAsync(null), Is.EqualTo(HttpStatusCode.Unauthorized));

        // Spans of other hosts in this process may be exported too; wait for a batch holding this one's.
        static bool HasAuthSpan(WireMock.Logging.ILogEntry e) => e.RequestMessage.Path == "/v1/traces"
            && System.Text.Encoding.UTF8.GetString(e.RequestMessage.BodyAsBytes ?? []).Contains("gateway.authenticate", StringComparison.Ordinal);
        await GatewayHost.WaitForAsync(() => Task.FromResult(collector.LogEntries.Any(HasAuthSpan)), TimeSpan.FromSeconds(15));
        var export = collector.LogEntries.First(HasAuthSpan).RequestMessage;
        Assert.That(export.Headers!["Content-Type"].Single(), Is.EqualTo("application/x-protobuf"));
    }

    private async Task<List<Activity>> TracedCallAsync(string key, HttpStatusCode expected, string path = "/api/x")
    {
        var traceId = ActivityTraceId.CreateRandom();
        using (var response = await Host.CallAsync(path, key, r => r.Headers.Add("traceparent", $"00-{traceId}-{_callerSpan}-01")))
        {
            Assert.That(response.StatusCode, Is.EqualTo(expected));
        }

        // The request span ends after the response is sent: wait for it rather than sleep.
        List<Activity> Mine()
        {
            lock (_spans)
            {
                return _spans.Where(s => s.TraceId == traceId).ToList();
            }
        }

        await GatewayHost.WaitForAsync(() => Task.FromResult(Mine().Any(s => s.ParentSpanId == _callerSpan)), TimeSpan.FromSeconds(10));
        return Mine();
    }

    private static void AssertNoKeyMaterial(List<Activity> spans, string key)
    {
        var secrets = new[] { key, key[^38..^10], ApiKeyFormat.Hash(key), ApiKeyFormat.DisplayPrefix(key) };
        foreach (var span in spans)
        {
            var text = span.DisplayName + " " + string.Join(" ", span.TagObjects.Select(t => t.Key + "=" + t.Value))
                + " " + string.Join(" ", span.Events.SelectMany(e => e.Tags.Select(t => t.Key + "=" + t.Value)));
            foreach (var secret in secrets)
            {
                Assert.That(text, Does.Not.Contain(secret), $"span {span.OperationName} carries key material");
            }
        }
    }
}
