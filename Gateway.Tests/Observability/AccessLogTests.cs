using System.Net;
using System.Text.Json.Nodes;
using Gateway.AccessLog;
using Gateway.Keys;
using Gateway.Tests.Common;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Gateway.Tests.Observability;

public sealed class AccessLogTests : UpstreamFixture
{
    [Test]
    public async Task ProxiedRequests_JsonFormat_OneLinePerRequestWithEveryField()
    {
        var logs = new CapturingLoggerProvider();
        await using var gateway = await StartAsync(logs, ("Gateway:AccessLog:Format", "json"));
        var created = await gateway.CreateOrgAsync("acme");
        var key = created.DefaultKey();
        var keyId = created.DefaultKeyId();

        using (var ok = await gateway.CallAsync("/api/x", key, r => r.Headers.Add("X-Request-Id", "req-ok-1")))
        using (var refused = await gateway.CallAsync("/api/x", null, r => r.Headers.Add("X-Request-Id", "req-refused-1")))
        {
            Assert.That(ok.StatusCode, Is.EqualTo(HttpStatusCode.OK));
            Assert.That(refused.StatusCode, Is.EqualTo(HttpStatusCode.Unauthorized));
        }

        var lines = await AccessLinesAsync(logs, 2);
        var ok1 = lines.Single(l => l.Str("requestId") == "req-ok-1");
        var refused1 = lines.Single(l => l.Str("requestId") == "req-refused-1");
        Assert.Multiple(() =>
        {
            Assert.That(ok1["status"]!.GetValue<int>(), Is.EqualTo(200));
            Assert.That(ok1.Str("route"), Is.EqualTo("open"));
            Assert.That(ok1.Str("method"), Is.EqualTo("GET"));
            Assert.That(ok1.Str("org"), Is.EqualTo("acme"));
            Assert.That(ok1.Str("keyId"), Is.EqualTo(keyId));
            Assert.That(ok1["code"], Is.Null);
            Assert.That(ok1.Str("clientIp"), Is.EqualTo("127.0.0.1"));
            Assert.That(ok1["durationMs"]!.GetValue<double>(), Is.GreaterThan(0));
            Assert.That(ok1["upstreamMs"]!.GetValue<double>(), Is.GreaterThan(0).And.LessThanOrEqualTo(ok1["durationMs"]!.GetValue<double>()));
            Assert.That(refused1["status"]!.GetValue<int>(), Is.EqualTo(401));
            Assert.That(refused1.Str("code"), Is.EqualTo("missing_key"));
            Assert.That(refused1["org"], Is.Null);
            Assert.That(refused1["upstreamMs"], Is.Null, "never sent upstream");
        });
    }

    [Test]
    public async Task ProxiedRequest_TextFormat_KeyValuePairs()
    {
        var logs = new CapturingLoggerProvider();
        await using var gateway = await StartAsync(logs);

        Assert.That(await gateway.StatusAsync(ApiKeyFormat.Generate("gw", "production")), Is.EqualTo(HttpStatusCode.Unauthorized));

        await GatewayHost.WaitForAsync(() => Task.FromResult(logs.Entries.Any(e => e.Category == AccessLogWriter.Category)), TimeSpan.FromSeconds(10));
        var line = logs.Entries.Single(e => e.Category == AccessLogWriter.Category).Message;
        Assert.That(line, Does.Match(@"^request_id=\S+ method=GET route=open status=401 code=invalid_key org=- key_id=- duration_ms=[0-9.]+ upstream_ms=- client_ip=127\.0\.0\.1 time=\S+$"));
    }

    [Test]
    public async Task Sampling_RateZero_LogsOnlyErrors()
    {
        var logs = new CapturingLoggerProvider();
        await using var gateway = await StartAsync(logs, ("Gateway:AccessLog:SampleRate", "0"), ("Gateway:AccessLog:Format", "json"));
        var key = (await gateway.CreateOrgAsync("acme")).DefaultKey();

        for (var i = 0; i < 5; i++)
        {
            Assert.That(await gateway.StatusAsync(key), Is.EqualTo(HttpStatusCode.OK));
        }

        Assert.That(await gateway.StatusAsync(null), Is.EqualTo(HttpStatusCode.Unauthorized));

        // Entries are written in order: once the refusal's line is out, no success line is still queued.
        var lines = await AccessLinesAsync(logs, 1);
        Assert.That(lines.Select(l => l["status"]!.GetValue<int>()), Is.EqualTo(new[] { 401 }));
    }

    [Test]
    public async Task Sampling_RateZero_UpstreamErrorLoggedWithItsUpstreamTime()
    {
        using var failing = WireMock.Server.WireMockServer.Start();
        failing.Given(WireMock.RequestBuilders.Request.Create().UsingAnyMethod())
            .RespondWith(WireMock.ResponseBuilders.Response.Create().WithStatusCode(500).WithDelay(TimeSpan.FromMilliseconds(30)));
        var logs = new CapturingLoggerProvider();
        await using var gateway = await StartAsync(logs, failing.Url! + "/", ("Gateway:AccessLog:SampleRate", "0"), ("Gateway:AccessLog:Format", "json"));
        var key = (await gateway.CreateOrgAsync("acme")).DefaultKey();

        using (var broken = await gateway.CallAsync("/api/broken", key))
        {
            Assert.That(broken.StatusCode, Is.EqualTo(HttpStatusCode.InternalServerError));
        }

        var line = (await AccessLinesAsync(logs, 1)).Single();
        Assert.Multiple(() =>
        {
            Assert.That(line["status"]!.GetValue<int>(), Is.EqualTo(500));
            Assert.That(line["upstreamMs"]!.GetValue<double>(), Is.GreaterThanOrEqualTo(25).And.LessThanOrEqualTo(line["durationMs"]!.GetValue<double>()),
                "an error of a request the sample left out still says how long the upstream took");
        });
    }

    [Test]
    public async Task Sampling_HalfRate_LogsAboutHalfOfTheSuccesses()
    {
        var logs = new CapturingLoggerProvider();
        await using var gateway = await StartAsync(logs, ("Gateway:AccessLog:SampleRate", "0.5"), ("Gateway:AccessLog:Format", "json"));
        var key = (await gateway.CreateOrgAsync("acme")).DefaultKey();

        const int Requests = 200;
        for (var i = 0; i < Requests; i++)
        {
            Assert.That(await gateway.StatusAsync(key), Is.EqualTo(HttpStatusCode.OK));
        }

        // A last line every request gets (an error) marks the end: once it is out, nothing before it is queued.
        Assert.That(await gateway.StatusAsync(null), Is.EqualTo(HttpStatusCode.Unauthorized));
        await AccessLinesAsync(logs, 1);
        await GatewayHost.WaitForAsync(() => Task.FromResult(logs.Entries.Any(e => e.Category == AccessLogWriter.Category && e.Message.Contains("\"status\":401", StringComparison.Ordinal))), TimeSpan.FromSeconds(10));
        var successes = logs.Entries.Count(e => e.Category == AccessLogWriter.Category && e.Message.Contains("\"status\":200", StringComparison.Ordinal));

        // Binomial(200, 0.5): outside 60..140 with a probability far below 1e-8.
        Assert.That(successes, Is.InRange(60, 140));
    }

    [Test]
    public async Task Disabled_NoAccessLogLines()
    {
        var logs = new CapturingLoggerProvider();
        await using var gateway = await StartAsync(logs, ("Gateway:AccessLog:Enabled", "false"));

        Assert.That(await gateway.StatusAsync(null), Is.EqualTo(HttpStatusCode.Unauthorized));
        await gateway.DisposeAsync();

        Assert.That(logs.Entries.Where(e => e.Category == AccessLogWriter.Category), Is.Empty);
    }

    [TestCase("Gateway:AccessLog:SampleRate", "1.5")]
    [TestCase("Gateway:AccessLog:Format", "xml")]
    [TestCase("Gateway:AccessLog:BufferSize", "0")]
    public void Start_BadSetting_FailsNamingIt(string setting, string value)
    {
        var settings = GatewayHost.Routes(Upstream.Url, ("open", "/api/{**rest}", []));
        settings[setting] = value;

        var failure = Assert.ThrowsAsync<OptionsValidationException>(async () => await GatewayHost.StartAsync(settings));

        Assert.That(failure!.Message, Does.Contain(setting));
    }

    /// <summary>
    /// Traffic with many keys (valid, revoked, rotated, unknown, malformed) and every log category at
    /// Trace: no log entry, in its message, state, scopes or exception, holds any key material.
    /// </summary>
    [Test]
    public async Task AllLogOutput_TrafficWithManyKeys_HoldsNoKeyMaterial()
    {
        var logs = new CapturingLoggerProvider();
        await using var gateway = await StartAsync(logs, ("Gateway:AccessLog:Format", "json"));
        var keys = new List<string>();
        for (var o = 0; o < 3; o++)
        {
            var org = $"org{o}";
            keys.Add((await gateway.CreateOrgAsync(org)).DefaultKey());
            for (var k = 0; k < 5; k++)
            {
                var created = await gateway.CreateKeyAsync(org, new { name = $"k{k}", scopes = new[] { "read" } });
                keys.Add(created.Str("key"));
                if (k == 0)
                {
                    await gateway.AdminPostAsync($"admin/keys/{created.Str("id")}/revoke");
                }
                else if (k == 1)
                {
                    var rotated = await gateway.AdminPostAsync($"admin/keys/{created.Str("id")}/rotate");
                    keys.Add(rotated.Str("key"));
                }
            }
        }

        var unknown = Enumerable.Range(0, 5).Select(_ => ApiKeyFormat.Generate("gw", "production")).ToList();
        var calls = 0;
        foreach (var key in keys.Concat(unknown).Append(keys[0] + "x").Append(keys[1][..^1]))
        {
            using var response = await gateway.CallAsync("/api/x", key);
            Assert.That((int)response.StatusCode, Is.AnyOf(200, 401), key);
            calls++;
        }

        await GatewayHost.WaitForAsync(() => Task.FromResult(logs.Entries.Count(e => e.Category == AccessLogWriter.Category) >= calls), TimeSpan.FromSeconds(15));
        var entries = logs.Entries;
        Assert.That(entries.Count(e => e.Category.StartsWith("Microsoft.AspNetCore", StringComparison.Ordinal)), Is.GreaterThan(0), "framework logs are captured too");

        var secrets = keys.Concat(unknown)
            .SelectMany(k => new[] { k, k[^38..^10], k[^30..], ApiKeyFormat.Hash(k) })
            .ToList();
        foreach (var entry in entries)
        {
            foreach (var secret in secrets)
            {
                Assert.That(entry.Text, Does.Not.Contain(secret), $"log entry of {entry.Category} holds key material");
            }
        }
    }

    private Task<GatewayHost> StartAsync(CapturingLoggerProvider logs, params (string Key, string Value)[] extra) =>
        StartAsync(logs, Upstream.Url, extra);

    private static Task<GatewayHost> StartAsync(CapturingLoggerProvider logs, string upstreamUrl, params (string Key, string Value)[] extra)
    {
        var settings = GatewayHost.Routes(upstreamUrl, ("open", "/api/{**rest}", []));
        settings["Gateway:AccessLog:Enabled"] = "true";
        foreach (var (key, value) in extra)
        {
            settings[key] = value;
        }

        return GatewayHost.StartAsync(settings, services => services.AddLogging(logging =>
        {
            logging.SetMinimumLevel(LogLevel.Trace);
            logging.AddFilter((_, _, _) => true);
            logging.AddProvider(logs);
        }));
    }

    private static async Task<List<JsonObject>> AccessLinesAsync(CapturingLoggerProvider logs, int count)
    {
        List<JsonObject> Lines() => logs.Entries.Where(e => e.Category == AccessLogWriter.Category).Select(e => JsonNode.Parse(e.Message)!.AsObject()).ToList();
        await GatewayHost.WaitForAsync(() => Task.FromResult(Lines().Count >= count), TimeSpan.FromSeconds(10));
        return Lines();
    }
}
