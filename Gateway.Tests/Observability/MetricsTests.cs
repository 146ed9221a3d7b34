using System.Diagnostics.Metrics;
using System.Net;
using Gateway.Keys;
using Gateway.Observability;
using Gateway.Tests.Common;
using Gateway.Usage;
using Microsoft.Extensions.DependencyInjection;

namespace Gateway.Tests.Observability;

/// <summary>
/// Metrics are per host: each test starts its own gateway and asserts exact counts, which a
/// process-wide registry fed by other fixtures could never pass.
/// </summary>
public sealed class MetricsTests : UpstreamFixture
{
    [Test]
    public async Task Scrape_AfterKnownTraffic_CountsExactlyThisHostsRequests()
    {
        await using var gateway = await StartAsync();
        var key = (await gateway.CreateOrgAsync("acme")).DefaultKey();
        var unknown = ApiKeyFormat.Generate("gw", "production");
        Assert.That(await gateway.StatusAsync(key), Is.EqualTo(HttpStatusCode.OK));
        Assert.That(await gateway.StatusAsync(key), Is.EqualTo(HttpStatusCode.OK));
        Assert.That(await gateway.StatusAsync(null), Is.EqualTo(HttpStatusCode.Unauthorized));
        Assert.That(await gateway.StatusAsync(unknown), Is.EqualTo(HttpStatusCode.Unauthorized));
        Assert.That(await gateway.StatusAsync(key, "/elsewhere"), Is.EqualTo(HttpStatusCode.NotFound));

        var text = await ScrapeAsync(gateway);

        Assert.Multiple(() =>
        {
            Assert.That(text, Does.Contain("# TYPE gateway_requests_total counter\n"));
            Assert.That(Value(text, "gateway_requests_total{route=\"open\",status=\"200\",outcome=\"forwarded\"}"), Is.EqualTo(2));
            Assert.That(Value(text, "gateway_requests_total{route=\"open\",status=\"401\",outcome=\"rejected\"}"), Is.EqualTo(2));
            Assert.That(Value(text, "gateway_requests_total{route=\"(none)\",status=\"404\",outcome=\"no_route\"}"), Is.EqualTo(1));
            Assert.That(Value(text, "gateway_auth_decisions_total{result=\"allowed\"}"), Is.EqualTo(2));
            Assert.That(Value(text, "gateway_auth_decisions_total{result=\"missing_key\"}"), Is.EqualTo(1));
            Assert.That(Value(text, "gateway_auth_decisions_total{result=\"invalid_key\"}"), Is.EqualTo(1));
            Assert.That(Value(text, "gateway_key_cache_lookups_total{result=\"miss\"}"), Is.EqualTo(2), "first use of each well-formed key");
            Assert.That(Value(text, "gateway_key_cache_lookups_total{result=\"hit\"}"), Is.EqualTo(1));
            Assert.That(Value(text, "gateway_store_duration_seconds_count{operation=\"find_key\"}"), Is.EqualTo(2));
            Assert.That(Value(text, "gateway_store_duration_seconds_bucket{operation=\"find_key\",le=\"+Inf\"}"), Is.EqualTo(2));
            Assert.That(text, Does.Contain("# TYPE gateway_store_duration_seconds histogram\n"));
            Assert.That(Value(text, "gateway_ratelimit_decisions_total{limit=\"workspace\",result=\"allowed\"}"), Is.EqualTo(2));
        });
    }

    [Test]
    public async Task Scrape_TwoHostsInOneProcess_SeeOnlyTheirOwnTraffic()
    {
        await using var busy = await StartAsync();
        await using var idle = await StartAsync();
        for (var i = 0; i < 3; i++)
        {
            Assert.That(await busy.StatusAsync(null), Is.EqualTo(HttpStatusCode.Unauthorized));
        }

        Assert.That(Value(await ScrapeAsync(busy), "gateway_auth_decisions_total{result=\"missing_key\"}"), Is.EqualTo(3));
        Assert.That(await ScrapeAsync(idle), Does.Not.Contain("missing_key"), "the idle host counted another host's requests");
    }

    [Test]
    public async Task Instruments_AreSystemDiagnosticsMetrics_OnTheHostsMeterFactory()
    {
        await using var gateway = await StartAsync();
        var factory = gateway.Services.GetRequiredService<IMeterFactory>();
        var seen = new List<(string Instrument, long Value, string? Result)>();
        using var listener = new MeterListener
        {
            InstrumentPublished = (instrument, l) =>
            {
                if (instrument.Meter.Name == GatewayMetrics.MeterName && ReferenceEquals(instrument.Meter.Scope, factory))
                {
                    l.EnableMeasurementEvents(instrument);
                }
            },
        };
        listener.SetMeasurementEventCallback<long>((instrument, value, tags, _) =>
        {
            lock (seen)
            {
                seen.Add((instrument.Name, value, tags.ToArray().FirstOrDefault(t => t.Key == "result").Value as string));
            }
        });
        listener.Start();

        Assert.That(await gateway.StatusAsync(null), Is.EqualTo(HttpStatusCode.Unauthorized));

        lock (seen)
        {
            Assert.That(seen, Does.Contain(("gateway.auth.decisions", 1L, (string?)"missing_key")));
        }
    }

    [Test]
    public async Task UsageCountingOff_RequestsStillInMetrics_NotInUsage()
    {
        var settings = GatewayHost.Routes(Upstream.Url, ("open", "/api/{**rest}", []));
        settings["Gateway:Usage:Enabled"] = "false";
        await using var off = await GatewayHost.StartAsync(settings);
        await using var on = await StartAsync();
        foreach (var gateway in new[] { off, on })
        {
            var key = (await gateway.CreateOrgAsync("acme")).DefaultKey();
            Assert.That(await gateway.StatusAsync(key), Is.EqualTo(HttpStatusCode.OK));
            Assert.That(await gateway.StatusAsync(null), Is.EqualTo(HttpStatusCode.Unauthorized));
        }

        var texts = new[] { await ScrapeAsync(off), await ScrapeAsync(on) };
        Assert.Multiple(() =>
        {
            foreach (var text in texts)
            {
                Assert.That(Value(text, "gateway_requests_total{route=\"open\",status=\"200\",outcome=\"forwarded\"}"), Is.EqualTo(1));
                Assert.That(Value(text, "gateway_requests_total{route=\"open\",status=\"401\",outcome=\"rejected\"}"), Is.EqualTo(1));
            }

            Assert.That(off.Services.GetRequiredService<UsageCounters>().Snapshot(), Is.Empty, "counted with Gateway:Usage:Enabled=false");
            Assert.That(on.Services.GetRequiredService<UsageCounters>().Snapshot().Sum(r => r.Counts.Sum()), Is.EqualTo(2));
        });
    }

    [Test]
    public void Scrape_SameSeriesFromDifferentStringInstances_AddsUpInOneSample()
    {
        using var services = new ServiceCollection().AddMetrics().BuildServiceProvider();
        var factory = services.GetRequiredService<IMeterFactory>();
        using var prometheus = new PrometheusMetrics(factory);
        var counter = factory.Create(GatewayMetrics.MeterName).CreateCounter<long>("probe");

        // Found by reference after the first: the literals. A series seen first by reference must still be
        // the series of equal text in other instances, of null and of boxed values, and of more than three tags.
        for (var i = 0; i < 3; i++)
        {
            counter.Add(1, new("route", "a"), new("status", "200"));
        }

        counter.Add(10, new(new string("route".AsSpan()), new string("a".AsSpan())), new("status", string.Concat("2", "00")));
        counter.Add(100, new("route", "a"), new("status", 200));
        counter.Add(1000, new("route", "b"), new("status", null));
        counter.Add(1000, new("route", "b"), new("status", ""));
        counter.Add(5, new("a", "1"), new("b", "2"), new("c", "3"), new("d", "4"));
        counter.Add(5, new("d", "4"), new("c", "3"), new("b", "2"), new("a", new string('1', 1)));

        var text = prometheus.Scrape();
        Assert.Multiple(() =>
        {
            Assert.That(Value(text, "probe_total{route=\"a\",status=\"200\"}"), Is.EqualTo(113));
            Assert.That(Value(text, "probe_total{route=\"b\",status=\"\"}"), Is.EqualTo(2000));
            Assert.That(Value(text, "probe_total{a=\"1\",b=\"2\",c=\"3\",d=\"4\"}"), Is.EqualTo(10));
            Assert.That(text.Split('\n').Count(l => l.StartsWith("probe_total{", StringComparison.Ordinal)), Is.EqualTo(3), text);
        });
    }

    private Task<GatewayHost> StartAsync() =>
        GatewayHost.StartAsync(GatewayHost.Routes(Upstream.Url, ("open", "/api/{**rest}", [])));

    private static async Task<string> ScrapeAsync(GatewayHost gateway)
    {
        using var client = new HttpClient { BaseAddress = gateway.AdminUrl };
        using var response = await client.GetAsync("metrics");
        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        Assert.That(response.Content.Headers.ContentType?.MediaType, Is.EqualTo("text/plain"));
        return await response.Content.ReadAsStringAsync();
    }

    /// <summary>The value of the sample line that starts with <paramref name="series"/>; fails when there is none.</summary>
    internal static double Value(string text, string series)
    {
        var line = text.Split('\n').FirstOrDefault(l => l.StartsWith(series + " ", StringComparison.Ordinal));
        Assert.That(line, Is.Not.Null, $"no sample {series} in\n{text}");
        return double.Parse(line![(series.Length + 1)..], System.Globalization.CultureInfo.InvariantCulture);
    }
}
