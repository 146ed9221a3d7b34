using System.Diagnostics.Metrics;
using System.Net;
using Gateway.Auth;
using Gateway.Domain;
using Gateway.Http;
using Gateway.RequestLog;
using Gateway.Tests.Common;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Yarp.ReverseProxy.Configuration;
using Yarp.ReverseProxy.Forwarder;
using Yarp.ReverseProxy.Model;

namespace Gateway.Tests.RequestLog;

/// <summary>
/// The request log's observer under the proxy's outcome stage, on a <see cref="DefaultHttpContext"/> with a YARP route feature and a real
/// <see cref="RequestLogWriter"/> over an in-memory store (a marker record written after the request tells when
/// the writer has drained everything the stage handed over): a keyed request and an authentication refusal
/// are recorded with their fields, an anonymous route and an IP-limit refusal are not, and a client that went
/// away before an answer is recorded as 499.
/// </summary>
public sealed class RequestLogObserverTests
{
    private static readonly DateTimeOffset Now = new(2030, 1, 1, 0, 0, 0, TimeSpan.Zero);

    [Test]
    public async Task KeyedRequest_CallsNextAndRecordsItsFields()
    {
        var context = Context("/api/orders", "203.0.113.9");
        context.Request.QueryString = new QueryString("?secret=1");
        context.Features.Set<IApiKeyFeature>(new ApiKeyFeature(new CachedKey(Key())));
        var called = false;

        var records = await RecordsAsync(context, c =>
        {
            called = true;
            c.Response.StatusCode = StatusCodes.Status201Created;
            return Task.CompletedTask;
        });

        Assert.That(called, Is.True);
        Assert.That(records, Has.Count.EqualTo(1));
        var r = records[0];
        Assert.That(r.Time, Is.EqualTo(Now));
        Assert.That(r.RequestId, Is.EqualTo("req-1"));
        Assert.That((r.OrgId, r.KeyId, r.CustomerId), Is.EqualTo(("acme", "key_1", "cust_9")));
        Assert.That((r.Method, r.Path, r.Route), Is.EqualTo(("POST", "/api/orders", "api")), "the path only, never the query string");
        Assert.That(r.Status, Is.EqualTo(StatusCodes.Status201Created));
        Assert.That(r.Code, Is.Null);
        Assert.That(r.ClientIp, Is.EqualTo("203.0.113.9"));
        Assert.That(r.UpstreamStatus, Is.Null, "not proxied: no destination was chosen");
        Assert.That(r.DurationMs, Is.GreaterThanOrEqualTo(0));
    }

    [Test]
    public async Task AnswerCompletesLater_RecordedOnceWithTheFinalStatus()
    {
        var context = Context("/api/orders", "203.0.113.9");
        context.Features.Set<IApiKeyFeature>(new ApiKeyFeature(new CachedKey(Key())));

        // The proxied path: the rest of the pipeline finishes after the stage has returned.
        var records = await RecordsAsync(context, async c =>
        {
            await Task.Yield();
            c.Response.StatusCode = StatusCodes.Status202Accepted;
        });

        Assert.That(records.Select(r => (r.RequestId, r.Status)), Is.EqualTo(new[] { ("req-1", StatusCodes.Status202Accepted) }));
    }

    [Test]
    public async Task ProxiedRequest_RecordsUpstreamStatus()
    {
        var context = Context("/api/x", "203.0.113.9");
        context.Features.Set<IApiKeyFeature>(new ApiKeyFeature(new CachedKey(Key())));
        context.Features.Get<IReverseProxyFeature>()!.ProxiedDestination = new DestinationState("d1");

        var records = await RecordsAsync(context, c => { c.Response.StatusCode = StatusCodes.Status502BadGateway; return Task.CompletedTask; });

        Assert.That(records.Single().UpstreamStatus, Is.EqualTo(StatusCodes.Status502BadGateway));
    }

    [Test]
    public async Task RefusedKey_RecordedUnderItsOrganizationWithTheCode()
    {
        var context = Context("/api/x", "203.0.113.9");

        var records = await RecordsAsync(context, c =>
        {
            c.Features.Set(new RefusedKeyFeature(new CachedKey(Key())));
            c.Features.Set(new ProblemCodeFeature { Code = ProblemCodes.KeyRevoked.Code });
            c.Response.StatusCode = StatusCodes.Status401Unauthorized;
            return Task.CompletedTask;
        });

        var r = records.Single();
        Assert.That((r.OrgId, r.KeyId, r.Status, r.Code), Is.EqualTo(("acme", "key_1", 401, "key_revoked")));
    }

    [Test]
    public async Task MissingKey_RecordedUnderNoOrganization()
    {
        var context = Context("/api/x", "203.0.113.9");

        var records = await RecordsAsync(context, c =>
        {
            c.Features.Set(new ProblemCodeFeature { Code = ProblemCodes.MissingKey.Code });
            c.Response.StatusCode = StatusCodes.Status401Unauthorized;
            return Task.CompletedTask;
        });

        var r = records.Single();
        Assert.That((r.OrgId, r.KeyId, r.Status, r.Code), Is.EqualTo(((string?)null, (string?)null, 401, "missing_key")));
    }

    [Test]
    public async Task AnonymousRoute_NoKey_CallsNextAndRecordsNothing()
    {
        var context = Context("/api/x", "203.0.113.9");
        var called = false;

        var records = await RecordsAsync(context, _ => { called = true; return Task.CompletedTask; });

        Assert.That(called, Is.True);
        Assert.That(records, Is.Empty);
    }

    [Test]
    public async Task IpLimitRefusal_BeforeAuthentication_RecordsNothing()
    {
        var context = Context("/api/x", "203.0.113.9");

        var records = await RecordsAsync(context, c =>
        {
            c.Features.Set(new ProblemCodeFeature { Code = ProblemCodes.RateLimited.Code });
            c.Response.StatusCode = StatusCodes.Status429TooManyRequests;
            return Task.CompletedTask;
        });

        Assert.That(records, Is.Empty);
    }

    [Test]
    public async Task ClientWentAway_NextThrows_Recorded499AndExceptionPropagates()
    {
        var context = Context("/api/x", "203.0.113.9");
        context.Features.Set<IApiKeyFeature>(new ApiKeyFeature(new CachedKey(Key())));
        using var aborted = new CancellationTokenSource();
        context.RequestAborted = aborted.Token;

        var records = await RecordsAsync(context, async c =>
        {
            await Task.Yield();
            await aborted.CancelAsync();
            c.RequestAborted.ThrowIfCancellationRequested();
        }, expectThrow: true);

        Assert.That(records.Single().Status, Is.EqualTo(499));
    }

    private static ApiKeyRecord Key() => new()
    {
        Id = "key_1", OrgId = "acme", CustomerId = "cust_9", Name = "k", Prefix = "gw_live_aaaaaa", Hash = "h", Environment = KeyEnvironments.Production,
        Scopes = ["*"], CreatedAt = DateTimeOffset.UnixEpoch, UpdatedAt = DateTimeOffset.UnixEpoch, Version = 1,
    };

    private static DefaultHttpContext Context(string path, string peer)
    {
        var context = new DefaultHttpContext { TraceIdentifier = "req-1" };
        context.Request.Method = "POST";
        context.Request.Path = path;
        context.Connection.RemoteIpAddress = IPAddress.Parse(peer);
        var route = new RouteConfig { RouteId = "api", ClusterId = "c", Match = new RouteMatch { Path = "/api/{**rest}" } };
        context.Features.Set<IReverseProxyFeature>(new ReverseProxyFeature { Route = new RouteModel(route, null!, HttpTransformer.Empty) });
        return context;
    }

    /// <returns>What the stage handed to the writer while answering <paramref name="context"/>.</returns>
    private static async Task<List<RequestRecord>> RecordsAsync(HttpContext context, RequestDelegate next, bool expectThrow = false)
    {
        var store = new RecordingStore();
        var time = new Microsoft.Extensions.Time.Testing.FakeTimeProvider(Now);
        var meters = new ServiceCollection().AddMetrics().BuildServiceProvider().GetRequiredService<IMeterFactory>();
        using var export = new RequestLogExport(null);
        using var writer = new RequestLogWriter(store, Options.Create(new RequestLogOptions { BatchSize = 1 }), export, time, meters, NullLogger<RequestLogWriter>.Instance);
        var stage = ProxyOutcomeStage.Over(next, time, observers: new RequestLogObserver(writer, new ClientIpResolver(() => [], () => 64)));

        if (expectThrow)
        {
            await Assert.ThatAsync(() => stage(context), Throws.InstanceOf<OperationCanceledException>());
        }
        else
        {
            await stage(context);
        }

        // The buffer is first in, first out: once a marker written after the request is in the store, so is
        // everything the stage handed over.
        var marker = new RequestRecord(Now, "marker", null, null, null, "GET", "/", null, 200, null, 0, null, null);
        writer.Write(PendingRequestRecord.From(marker));
        await writer.StartAsync(CancellationToken.None);
        try
        {
            await Eventually.HoldsAsync(() => store.Contains(marker), TimeSpan.FromSeconds(10), "the writer drains its buffer");
        }
        finally
        {
            await writer.StopAsync(CancellationToken.None);
        }

        return store.Before(marker);
    }

    /// <summary>Keeps what is appended, in order; the writer appends from its own thread.</summary>
    private sealed class RecordingStore : IRequestLogStore
    {
        private readonly List<RequestRecord> _records = [];

        public bool Contains(RequestRecord record)
        {
            lock (_records)
            {
                return _records.Contains(record);
            }
        }

        public List<RequestRecord> Before(RequestRecord record)
        {
            lock (_records)
            {
                return _records.TakeWhile(r => r != record).ToList();
            }
        }

        public Task AppendAsync(IReadOnlyList<RequestRecord> records, CancellationToken cancellationToken)
        {
            lock (_records)
            {
                _records.AddRange(records);
            }

            return Task.CompletedTask;
        }

        public Task TrimAsync(IReadOnlyCollection<string?> orgs, DateTimeOffset olderThan, int maxPerOrg, CancellationToken cancellationToken) => Task.CompletedTask;

        public Task<RequestPage> QueryAsync(RequestQuery query, CancellationToken cancellationToken) => throw new NotSupportedException();

        public Task<RequestRecord?> FindAsync(string requestId, string? org, DateTimeOffset notBefore, CancellationToken cancellationToken) => throw new NotSupportedException();
    }
}
