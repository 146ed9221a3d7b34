using Gateway.Hosting;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Gateway.Tests.Hosting;

/// <summary>
/// The exit code: a gateway stopped because one of its background services failed must not exit 0, which a supervisor
/// (systemd, Kubernetes) reads as a clean stop and does not restart or report.
/// </summary>
public sealed class GatewayRunTests
{
    [Test]
    public async Task Run_ABackgroundServiceFails_StopsWithExitCode1NamingIt()
    {
        var app = Build(services => services.AddHostedService<FailingService>());
        using var error = new StringWriter();

        var code = await GatewayRun.RunAsync(app, error).WaitAsync(TimeSpan.FromSeconds(30));

        Assert.That(code, Is.EqualTo(1));
        Assert.That(error.ToString(), Does.Contain(nameof(FailingService)).And.Contain("broken on purpose"));
    }

    [Test]
    public async Task Run_StoppedByTheHost_ExitCode0()
    {
        var app = Build(_ => { });
        app.Lifetime.ApplicationStarted.Register(app.Lifetime.StopApplication);
        using var error = new StringWriter();

        var code = await GatewayRun.RunAsync(app, error).WaitAsync(TimeSpan.FromSeconds(30));

        Assert.That(code, Is.EqualTo(0));
        Assert.That(error.ToString(), Is.Empty);
    }

    private static WebApplication Build(Action<IServiceCollection> services)
    {
        var directory = Path.Combine(Path.GetTempPath(), "gw-tests", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(directory);
        var builder = WebApplication.CreateBuilder(new WebApplicationOptions { EnvironmentName = "Testing", ContentRootPath = directory, Args = [] });
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Kestrel:Endpoints:Proxy:Url"] = "http://127.0.0.1:0",
            ["Kestrel:Endpoints:Admin:Url"] = "http://127.0.0.1:0",
            ["Gateway:Store:Path"] = Path.Combine(directory, "gateway.db"),
            ["Gateway:Admin:Token"] = Common.GatewayHost.AdminToken,
            ["Gateway:Demo:Enabled"] = "false",
        });
        builder.Logging.ClearProviders();
        services(builder.Services);
        builder.AddGateway();
        var app = builder.Build();
        app.UseGateway();
        return app;
    }

    /// <summary>Fails once the gateway serves, as the webhook dispatcher did after a bad reload.</summary>
    private sealed class FailingService(IHostApplicationLifetime lifetime) : BackgroundService
    {
        protected override async Task ExecuteAsync(CancellationToken stoppingToken)
        {
            var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            using (lifetime.ApplicationStarted.Register(() => started.TrySetResult()))
            {
                await started.Task.WaitAsync(stoppingToken);
            }

            throw new InvalidOperationException("broken on purpose");
        }
    }
}
