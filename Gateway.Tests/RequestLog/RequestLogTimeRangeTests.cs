using System.Net;
using System.Text.Json.Nodes;
using Gateway.RequestLog;
using Gateway.Tests.Common;
using Microsoft.Extensions.DependencyInjection;
using WireMock.RequestBuilders;
using WireMock.ResponseBuilders;
using WireMock.Server;

namespace Gateway.Tests.RequestLog;

/// <summary>
/// <c>from</c>, <c>to</c> and the cursor on both stores when records are stored out of the order of their times: a
/// record's time is its request's start, and it is stored when the request has ended (a long request after shorter
/// ones that started later), and with several instances each instance's batch in turn.
/// </summary>
[TestFixtureSource(typeof(StoreKinds), nameof(StoreKinds.All))]
public sealed class RequestLogTimeRangeTests(StoreKind store)
{
    private static RequestRecord Record(DateTimeOffset at, string requestId) =>
        new(at, requestId, "range", "key_1", null, "GET", "/api/x", "api", 200, null, 1.5, "127.0.0.1", 200);

    private static Task<RequestPage> QueryAsync(IRequestLogStore log, DateTimeOffset? from, DateTimeOffset? to, int limit = 50, string? cursor = null) =>
        log.QueryAsync(new RequestQuery("range", null, null, null, null, from, to, limit, cursor, DateTimeOffset.UtcNow.AddDays(-7)), CancellationToken.None);

    private static IEnumerable<string> Ids(RequestPage page) => page.Items.Select(r => r.RequestId);

    [Test]
    public async Task Query_RecordsStoredOutOfTimeOrder_FromToAndCursorReturnExactlyTheRecordsInRange()
    {
        await using var gateway = await GatewayHost.StartAsync(store: store);
        var log = gateway.Services.GetRequiredService<IRequestLogStore>();
        var t0 = DateTimeOffset.FromUnixTimeMilliseconds(DateTimeOffset.UtcNow.AddSeconds(-30).ToUnixTimeMilliseconds());

        // In the order they are stored: a request that ran for five minutes ends among ones that started after it.
        await log.AppendAsync(
            [Record(t0.AddSeconds(2), "a"), Record(t0.AddSeconds(3), "b"), Record(t0.AddMinutes(-5), "long"), Record(t0.AddSeconds(1), "c"), Record(t0.AddSeconds(4), "d")],
            CancellationToken.None);

        // Newest first is the order they were stored in, on both stores; the filters pick by time exactly.
        Assert.That(Ids(await QueryAsync(log, null, null)), Is.EqualTo(new[] { "d", "c", "long", "b", "a" }));
        Assert.That(Ids(await QueryAsync(log, t0.AddSeconds(1), null)), Is.EqualTo(new[] { "d", "c", "b", "a" }), "from is inclusive");
        Assert.That(Ids(await QueryAsync(log, t0.AddSeconds(2), null)), Is.EqualTo(new[] { "d", "b", "a" }));
        Assert.That(Ids(await QueryAsync(log, t0.AddMinutes(-5), null)), Is.EqualTo(new[] { "d", "c", "long", "b", "a" }));
        Assert.That(Ids(await QueryAsync(log, t0.AddMinutes(-4), null)), Is.EqualTo(new[] { "d", "c", "b", "a" }));
        Assert.That(Ids(await QueryAsync(log, null, t0.AddSeconds(3))), Is.EqualTo(new[] { "c", "long", "a" }), "to is exclusive");
        Assert.That(Ids(await QueryAsync(log, t0.AddSeconds(1), t0.AddSeconds(4))), Is.EqualTo(new[] { "c", "b", "a" }));
        Assert.That(Ids(await QueryAsync(log, t0.AddSeconds(5), null)), Is.Empty);

        // A page at a time, while newer records arrive: each page goes on from the last, none repeats or goes missing.
        var seen = new List<string>();
        var page = await QueryAsync(log, t0.AddSeconds(1), null, limit: 1);
        seen.AddRange(Ids(page));
        await log.AppendAsync([Record(t0.AddSeconds(6), "e"), Record(t0.AddSeconds(-10), "f")], CancellationToken.None);
        while (page.Next is { } next)
        {
            page = await QueryAsync(log, t0.AddSeconds(1), null, limit: 1, cursor: next);
            seen.AddRange(Ids(page));
        }

        Assert.That(seen, Is.EqualTo(new[] { "d", "c", "b", "a" }));
        Assert.That(Ids(await QueryAsync(log, t0.AddSeconds(1), null)), Is.EqualTo(new[] { "e", "d", "c", "b", "a" }));
        Assert.That(Ids(await QueryAsync(log, t0.AddSeconds(-10), t0.AddSeconds(3))), Is.EqualTo(new[] { "f", "c", "a" }));
    }

    /// <summary>The tester's case: a slow request, then two fast ones that start after it and end before it.</summary>
    [Test]
    public async Task Query_SlowRequestEndsAfterFasterLaterOnes_FromFindsTheLaterOnes()
    {
        var entered = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using var upstream = WireMockServer.Start();
        upstream.Given(Request.Create().UsingAnyMethod()).RespondWith(Response.Create().WithCallback(request =>
        {
            if (request.Path.EndsWith("/slow", StringComparison.Ordinal))
            {
                entered.TrySetResult();
                release.Task.Wait(TimeSpan.FromSeconds(30));
            }

            return new WireMock.ResponseMessage { StatusCode = 200 };
        }));
        await using var gateway = await GatewayHost.StartAsync(GatewayHost.Routes(upstream.Url! + "/", ("api", "/api/{**rest}", [])), store: store);
        await gateway.CreateOrgAsync("range");
        var key = (await gateway.CreateKeyAsync("range", new { name = "svc" }))["key"]!.GetValue<string>();

        Task<HttpResponseMessage> slow;
        DateTimeOffset from;
        try
        {
            slow = gateway.CallAsync("/api/slow", key, r => r.Headers.Add("X-Request-Id", "rs-slow"));
            await entered.Task.WaitAsync(TimeSpan.FromSeconds(15));
            from = await AfterAMillisecondAsync();
            foreach (var id in new[] { "rs-f1", "rs-f2" })
            {
                using var fast = await gateway.CallAsync("/api/fast", key, r => r.Headers.Add("X-Request-Id", id));
                Assert.That(fast.StatusCode, Is.EqualTo(HttpStatusCode.OK));
            }

            // The fast ones stored before the slow one ends.
            await Eventually.HoldsAsync(async () => (await ListAsync(gateway, "admin/orgs/range/requests")).Count == 2, TimeSpan.FromSeconds(15), "the fast records");
        }
        finally
        {
            release.TrySetResult();
        }

        (await slow).Dispose();
        var all = await Eventually.ValueAsync(() => ListAsync(gateway, "admin/orgs/range/requests"), items => items.Count == 3, TimeSpan.FromSeconds(15), "all three records");
        Assert.That(all, Is.EqualTo(new[] { "rs-slow", "rs-f2", "rs-f1" }), "newest first: in the order they were stored");
        Assert.That(await ListAsync(gateway, $"admin/orgs/range/requests?from={Uri.EscapeDataString(from.ToString("O"))}"), Is.EqualTo(new[] { "rs-f2", "rs-f1" }));
        Assert.That(await ListAsync(gateway, $"admin/orgs/range/requests?to={Uri.EscapeDataString(from.ToString("O"))}"), Is.EqualTo(new[] { "rs-slow" }));
    }

    /// <summary>Two instances on one store: their batches are stored in turn, so times alternate in the stored order.</summary>
    [Test]
    public async Task Query_TwoInstancesInterleaved_FromFindsEveryRecordInRange()
    {
        using var upstream = Upstream.Start();
        var directory = Path.Combine(Path.GetTempPath(), "gw-tests", Guid.NewGuid().ToString("N"));
        var prefix = $"t{Guid.NewGuid():N}:";
        var routes = GatewayHost.Routes(upstream.Url, ("api", "/api/{**rest}", []));
        await using var first = await GatewayHost.StartAsync(routes, store: store, directory: directory, redisPrefix: prefix);
        await using var second = await GatewayHost.StartAsync(routes, store: store, directory: directory, redisPrefix: prefix);
        await first.CreateOrgAsync("range");
        var key = (await first.CreateKeyAsync("range", new { name = "svc" }))["key"]!.GetValue<string>();

        // Each instance's writer stores what it gathered in the 200 ms after its first record. With both warmed up, a1
        // and a2 go in one batch of the first, b1 and b2 in one of the second, and whichever batch is stored second
        // holds a record older than `from` (a1 or b1) stored after one within it (a2 or b2) of the other batch.
        await CallAsync(first, "warm-a");
        await CallAsync(second, "warm-b");
        await Eventually.HoldsAsync(async () => (await ListAsync(first, "admin/orgs/range/requests")).Count == 2, TimeSpan.FromSeconds(15), "the warm-up records");
        await CallAsync(first, "a1");
        await CallAsync(second, "b1");
        var from = await AfterAMillisecondAsync();
        await CallAsync(first, "a2");
        await CallAsync(second, "b2");

        // SQLite holds each instance's records until it writes them; a read on the other instance does not write them.
        await Eventually.HoldsAsync(async () => (await ListAsync(first, "admin/orgs/range/requests")).Count == 6, TimeSpan.FromSeconds(15), "all six records");
        var inRange = await ListAsync(first, $"admin/orgs/range/requests?from={Uri.EscapeDataString(from.ToString("O"))}");
        Assert.That(inRange, Is.EquivalentTo(new[] { "a2", "b2" }));
        var paged = new List<string>();
        string? cursor = null;
        do
        {
            using var response = await first.Admin.GetAsync($"admin/orgs/range/requests?limit=1&from={Uri.EscapeDataString(from.ToString("O"))}" + (cursor is null ? "" : "&cursor=" + Uri.EscapeDataString(cursor)));
            var body = JsonNode.Parse(await response.Content.ReadAsStringAsync())!;
            paged.AddRange(body["items"]!.AsArray().Select(i => i!["requestId"]!.GetValue<string>()));
            cursor = body["next"]?.GetValue<string>();
        }
        while (cursor is not null);
        Assert.That(paged, Is.EqualTo(inRange), "page by page, the same records in the same order");

        async Task CallAsync(GatewayHost host, string id)
        {
            using var response = await host.CallAsync("/api/x", key, r => r.Headers.Add("X-Request-Id", id));
            Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        }
    }

    private static async Task<List<string>> ListAsync(GatewayHost gateway, string path)
    {
        using var response = await gateway.Admin.GetAsync(path);
        var text = await response.Content.ReadAsStringAsync();
        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK), text);
        return JsonNode.Parse(text)!["items"]!.AsArray().Select(i => i!["requestId"]!.GetValue<string>()).ToList();
    }

    /// <summary>
    /// A time strictly after every request received so far and not after any that follows: records are timed to the
    /// millisecond, so the clock is let pass into the next millisecond on both sides.
    /// </summary>
    private static async Task<DateTimeOffset> AfterAMillisecondAsync()
    {
        var before = DateTimeOffset.UtcNow;
        await Eventually.HoldsAsync(() => DateTimeOffset.UtcNow > before.AddMilliseconds(2), TimeSpan.FromSeconds(5));
        var at = DateTimeOffset.FromUnixTimeMilliseconds(DateTimeOffset.UtcNow.ToUnixTimeMilliseconds());
        await Eventually.HoldsAsync(() => DateTimeOffset.UtcNow > at.AddMilliseconds(2), TimeSpan.FromSeconds(5));
        return at;
    }
}
