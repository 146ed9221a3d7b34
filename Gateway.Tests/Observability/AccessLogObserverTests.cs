using System.Diagnostics.Metrics;
using System.Net;
using Gateway.AccessLog;
using Gateway.Auth;
using Gateway.Domain;
using Gateway.Http;
using Gateway.Observability;
using Gateway.Tests.Common;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Yarp.ReverseProxy.Configuration;
using Yarp.ReverseProxy.Forwarder;
using Yarp.ReverseProxy.Model;

namespace Gateway.Tests.Observability;

/// <summary>
/// The access log's observer under the proxy's outcome stage, on a <see cref="DefaultHttpContext"/> with a YARP route feature and a real
/// <see cref="AccessLogWriter"/> logging to a capturing provider (a marker entry written after the request tells
/// when the writer has logged everything the stage handed over): sampling 1 logs every request with its fields,
/// sampling 0 logs only errors (and nothing when errors are not always logged), a refusal's code reaches the line
/// through the entry the stage installs, and the next stage always runs.
/// </summary>
public sealed class AccessLogObserverTests
{
    [Test]
    public async Task SampleAll_Success_CallsNextAndLogsTheRequest()
    {
        var context = Context();
        context.Features.Set<IApiKeyFeature>(new ApiKeyFeature(new CachedKey(Key())));
        var called = false;

        var lines = await LinesAsync(context, new AccessLogOptions { SampleRate = 1 }, _ => { called = true; return Task.CompletedTask; });

        Assert.That(called, Is.True);
        Assert.That(lines, Has.Count.EqualTo(1));
        Assert.That(lines[0], Does.StartWith("request_id=req-1 method=GET route=api status=200 code=- org=acme key_id=key_1 "));
        Assert.That(lines[0], Does.Contain(" client_ip=203.0.113.9 "));
    }

    [Test]
    public async Task SampleAll_AnswerCompletesLater_LoggedOnceWithTheFinalStatus()
    {
        var context = Context();

        // The proxied path: the rest of the pipeline finishes after the stage has returned.
        var lines = await LinesAsync(context, new AccessLogOptions { SampleRate = 1 }, async c =>
        {
            await Task.Yield();
            c.Response.StatusCode = StatusCodes.Status202Accepted;
        });

        Assert.That(lines, Has.Count.EqualTo(1));
        Assert.That(lines[0], Does.StartWith("request_id=req-1 method=GET route=api status=202 "));
    }

    [Test]
    public async Task SampleNone_Success_CallsNextAndLogsNothing()
    {
        var context = Context();
        var called = false;

        var lines = await LinesAsync(context, new AccessLogOptions { SampleRate = 0 }, _ => { called = true; return Task.CompletedTask; });

        Assert.That(called, Is.True);
        Assert.That(lines, Is.Empty);
    }

    [TestCase(StatusCodes.Status404NotFound)]
    [TestCase(StatusCodes.Status502BadGateway)]
    public async Task SampleNone_Error_LoggedWithItsCode(int status)
    {
        var context = Context();

        var lines = await LinesAsync(context, new AccessLogOptions { SampleRate = 0 }, c =>
        {
            // A refusing stage writes its code into the request's problem-code feature, which is the log entry.
            c.Features.Get<ProblemCodeFeature>()!.Code = "some_code";
            c.Response.StatusCode = status;
            return Task.CompletedTask;
        });

        Assert.That(lines, Has.Count.EqualTo(1));
        Assert.That(lines[0], Does.Contain($" status={status} code=some_code "));
    }

    [Test]
    public async Task SampleNone_ErrorsNotAlwaysLogged_LogsNothing()
    {
        var context = Context();

        var lines = await LinesAsync(context, new AccessLogOptions { SampleRate = 0, AlwaysLogErrors = false }, c =>
        {
            c.Response.StatusCode = StatusCodes.Status500InternalServerError;
            return Task.CompletedTask;
        });

        Assert.That(lines, Is.Empty);
    }

    [Test]
    public async Task ClientWentAway_Logged499AndExceptionPropagates()
    {
        var context = Context();
        using var aborted = new CancellationTokenSource();
        context.RequestAborted = aborted.Token;

        var lines = await LinesAsync(context, new AccessLogOptions { SampleRate = 1 }, async c =>
        {
            await Task.Yield();
            await aborted.CancelAsync();
            c.RequestAborted.ThrowIfCancellationRequested();
        }, expectThrow: true);

        Assert.That(lines.Single(), Does.Contain(" status=499 "));
    }

    private static ApiKeyRecord Key() => new()
    {
        Id = "key_1", OrgId = "acme", Name = "k", Prefix = "gw_live_aaaaaa", Hash = "h", Environment = KeyEnvironments.Production,
        Scopes = ["*"], CreatedAt = DateTimeOffset.UnixEpoch, UpdatedAt = DateTimeOffset.UnixEpoch, Version = 1,
    };

    private static DefaultHttpContext Context()
    {
        var context = new DefaultHttpContext { TraceIdentifier = "req-1" };
        context.Request.Method = "GET";
        context.Request.Path = "/api/x";
        context.Connection.RemoteIpAddress = IPAddress.Parse("203.0.113.9");
        var route = new RouteConfig { RouteId = "api", ClusterId = "c", Match = new RouteMatch { Path = "/api/{**rest}" } };
        context.Features.Set<IReverseProxyFeature>(new ReverseProxyFeature { Route = new RouteModel(route, null!, HttpTransformer.Empty) });
        return context;
    }

    /// <returns>The access-log lines written for <paramref name="context"/>.</returns>
    private static async Task<List<string>> LinesAsync(HttpContext context, AccessLogOptions settings, RequestDelegate next, bool expectThrow = false)
    {
        settings.Enabled = true;
        var options = Options.Create(settings);
        var capture = new CapturingLoggerProvider(LogLevel.Information);
        using var loggers = new LoggerFactory([capture]);
        var metrics = new GatewayMetrics(new ServiceCollection().AddMetrics().BuildServiceProvider().GetRequiredService<IMeterFactory>());
        using var writer = new AccessLogWriter(options, loggers, metrics);
        var stage = ProxyOutcomeStage.Over(next, TimeProvider.System, observers: new AccessLogObserver(writer, new ClientIpResolver(() => [], () => 64), options));

        if (expectThrow)
        {
            await Assert.ThatAsync(() => stage(context), Throws.InstanceOf<OperationCanceledException>());
        }
        else
        {
            await stage(context);
        }

        // The buffer is first in, first out: once a marker written after the request is logged, so is everything before it.
        writer.Write(new AccessLogEntry { RequestId = "marker" });
        await writer.StartAsync(CancellationToken.None);
        try
        {
            await Eventually.HoldsAsync(() => Messages(capture).Any(IsMarker), TimeSpan.FromSeconds(10), "the writer drains its buffer");
        }
        finally
        {
            await writer.StopAsync(CancellationToken.None);
        }

        return Messages(capture).TakeWhile(m => !IsMarker(m)).ToList();
    }

    private static bool IsMarker(string message) => message.StartsWith("request_id=marker ", StringComparison.Ordinal);

    private static IEnumerable<string> Messages(CapturingLoggerProvider capture) =>
        capture.Entries.Where(e => e.Category == AccessLogWriter.Category).Select(e => e.Message);
}
