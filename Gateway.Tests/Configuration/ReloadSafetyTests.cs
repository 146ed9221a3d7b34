using System.Net;
using Gateway.Configuration;
using Gateway.Domain;
using Gateway.Observability;
using Gateway.Signing;
using Gateway.Stores;
using Gateway.Tests.Common;
using Gateway.Webhooks;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace Gateway.Tests.Configuration;

/// <summary>
/// A reload that fails validation is ignored with event 1010 and the previous settings stay, for every settings section,
/// not only <c>Gateway</c>'s own: a bad <c>Gateway:Webhooks</c> value used to throw from the dispatcher's next read and
/// stop the whole gateway (exit code 0).
/// </summary>
public sealed class ReloadSafetyTests
{
    [TestCase("Gateway:Webhooks:Timeout", "00:00:00")]
    [TestCase("Gateway:Webhooks:MaxPerOrg", "0")]
    [TestCase("Gateway:RequestLog:Retention", "00:00:00")]
    [TestCase("Gateway:AccessLog:SampleRate", "2")]
    [TestCase("Gateway:Admin:Oidc:ClientId", "no-authority")]
    [TestCase("Gateway:Signing:Secrets:0:Secret", "short")]
    [TestCase("Gateway:SecretScanning:Action", "explode")]
    public async Task Reload_InvalidSettingOfAnySection_IsIgnoredWith1010AndTheGatewayKeepsServing(string key, string value)
    {
        using var upstream = Upstream.Start();
        var settings = GatewayHost.Routes(upstream.Url, ("api", "/api/{**rest}", []));
        settings["Gateway:Signing:Secrets:0:Id"] = "k1";
        settings["Gateway:Signing:Secrets:0:Secret"] = new string('s', 40);
        await using var gateway = await GatewayHost.StartAsync(settings);
        var apiKey = (await gateway.CreateOrgAsync("acme")).DefaultKey();
        var configuration = (IConfigurationRoot)gateway.Services.GetRequiredService<IConfiguration>();
        var webhooks = gateway.Services.GetRequiredService<IOptionsMonitor<WebhookOptions>>();
        var signing = gateway.Services.GetRequiredService<IOptionsMonitor<SigningOptions>>();

        configuration[key] = value;
        configuration.Reload();

        Assert.That(gateway.Errors, Does.Contain("Ignored a configuration reload").And.Contain(key));
        Assert.That(webhooks.CurrentValue.Timeout, Is.EqualTo(TimeSpan.FromSeconds(10)), "a read after the bad reload gets the previous value");
        Assert.That(signing.CurrentValue.Secrets.Single().Secret, Has.Length.EqualTo(40));
        Assert.That(await gateway.StatusAsync(apiKey), Is.EqualTo(HttpStatusCode.OK));
        Assert.That(gateway.Services.GetRequiredService<IHostApplicationLifetime>().ApplicationStopping.IsCancellationRequested, Is.False);
    }

    [Test]
    public async Task Reload_InvalidWebhookSetting_TheDispatcherKeepsPolling()
    {
        var claims = new ClaimCounter();
        await using var gateway = await GatewayHost.StartAsync(
            new Dictionary<string, string?> { ["Gateway:Webhooks:PollInterval"] = "00:00:00.020" },
            services: services => services.AddSingleton(claims).AddSingleton<IWebhookStore, ClaimCountingWebhookStore>());
        var configuration = (IConfigurationRoot)gateway.Services.GetRequiredService<IConfiguration>();
        var dispatcher = gateway.Services.GetServices<IHostedService>().OfType<WebhookDispatcher>().Single();

        configuration["Gateway:Webhooks:PollInterval"] = "00:00:00";
        configuration.Reload();
        var before = claims.Count;

        // The dispatcher reads its settings on every round: two more rounds came through the bad reload.
        await Eventually.HoldsAsync(() => claims.Count >= before + 2, TimeSpan.FromSeconds(10), "the dispatcher polling after the reload");
        Assert.That(dispatcher.ExecuteTask!.IsCompleted, Is.False, gateway.Errors);
        Assert.That(gateway.Errors, Does.Contain("Gateway:Webhooks:PollInterval"));
    }

    [Test]
    public async Task EverySectionBoundFromConfiguration_IsReadThroughTheLastGoodMonitor()
    {
        await using var gateway = await GatewayHost.StartAsync();
        var services = gateway.Services.GetRequiredService<IServiceProviderIsService>();
        var bound = typeof(GatewayOptions).Assembly.GetTypes()
            .Where(t => t is { IsClass: true, IsAbstract: false, ContainsGenericParameters: false })
            .Where(t => gateway.Services.GetServices(typeof(IOptionsChangeTokenSource<>).MakeGenericType(t)).Any())
            .ToList();

        Assert.That(bound.Select(t => t.Name), Is.SupersetOf(new[] { "GatewayOptions", "WebhookOptions", "SigningOptions", "RequestLogOptions", "AccessLogOptions" }));
        Assert.That(services.IsService(typeof(IOptionsMonitor<GatewayOptions>)), Is.True);
        Assert.Multiple(() =>
        {
            foreach (var type in bound)
            {
                var monitor = gateway.Services.GetRequiredService(typeof(IOptionsMonitor<>).MakeGenericType(type));
                Assert.That(monitor.GetType().GetGenericTypeDefinition(), Is.EqualTo(typeof(LastGoodOptionsMonitor<>)), type.Name);
            }
        });
    }

    [Test]
    public async Task Reload_SigningSecretsInTheWrongShape_IsIgnoredAndSigningStaysOn()
    {
        await using var gateway = await GatewayHost.StartAsync(new Dictionary<string, string?>
        {
            ["Gateway:Signing:Secrets:0:Id"] = "k1",
            ["Gateway:Signing:Secrets:0:Secret"] = new string('s', 40),
        });
        var configuration = (IConfigurationRoot)gateway.Services.GetRequiredService<IConfiguration>();
        var signing = gateway.Services.GetRequiredService<IOptionsMonitor<SigningOptions>>();

        configuration["Gateway:Signing:Secrets:1"] = "abc";
        configuration.Reload();

        Assert.That(signing.CurrentValue.Secrets.Select(s => s.Id), Is.EqualTo(new[] { "k1" }));
        Assert.That(gateway.Errors, Does.Contain("Ignored a configuration reload").And.Contain("Gateway:Signing:Secrets:1"));
    }

    [Test]
    public async Task SettingsFileBroken_IsLoggedAndThePreviousSettingsStay_ThenAValidEditApplies()
    {
        using var upstream = Upstream.Start();
        var directory = Path.Combine(Path.GetTempPath(), "gw-tests", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(directory);
        var file = Path.Combine(directory, "appsettings.json");
        static string Settings(string upstream, int limit) =>
            $$"""
            { "Gateway": { "RateLimits": { "Workspace": { "PermitLimit": {{limit}}, "Window": "00:01:00" } } },
              "ReverseProxy": { "Routes": { "api": { "ClusterId": "c", "Match": { "Path": "/api/{**rest}" } } },
                                "Clusters": { "c": { "Destinations": { "d1": { "Address": "{{upstream}}" } } } } } }
            """;
        await File.WriteAllTextAsync(file, Settings(upstream.Url, 5000));
        await using var gateway = await GatewayHost.StartAsync(configure: config => config.AddJsonFile(file, optional: false, reloadOnChange: true));
        var key = (await gateway.CreateOrgAsync("acme")).DefaultKey();
        var configuration = gateway.Services.GetRequiredService<IConfiguration>();
        var monitor = gateway.Services.GetRequiredService<IOptionsMonitor<GatewayOptions>>();
        Assert.That(await LimitAsync(gateway, key), Is.EqualTo("5000"));

        var broken = 0;
        foreach (var content in new[] { Settings(upstream.Url, 6000)[..40], "", "{ \"Gateway\": { ]" })
        {
            await File.WriteAllTextAsync(file, content);
            var seen = ++broken;
            await Eventually.HoldsAsync(
                () => Task.FromResult(gateway.ErrorEvents(EventIds.SettingsFileReloadFailed) >= seen), TimeSpan.FromSeconds(10), () => "event 1011: " + gateway.Errors);

            Assert.That(configuration["Gateway:RateLimits:Workspace:PermitLimit"], Is.EqualTo("5000"), "the file's previous values stay in the configuration");
            Assert.That(configuration["ReverseProxy:Routes:api:Match:Path"], Is.EqualTo("/api/{**rest}"));
            Assert.That(monitor.CurrentValue.RateLimits.Workspace.PermitLimit, Is.EqualTo(5000));
            Assert.That(await LimitAsync(gateway, key), Is.EqualTo("5000"), "the route still answers, under the previous limit");
        }

        Assert.That(gateway.Errors, Does.Contain(file));
        await File.WriteAllTextAsync(file, Settings(upstream.Url, 6000));
        await Eventually.HoldsAsync(async () => await LimitAsync(gateway, key) == "6000", TimeSpan.FromSeconds(10), () => gateway.Errors);
    }

    private static async Task<string?> LimitAsync(GatewayHost gateway, string key)
    {
        using var response = await gateway.CallAsync("/api/x", key);
        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK), gateway.Errors);
        return response.Headers.TryGetValues("X-RateLimit-Limit", out var limit) ? limit.Single() : null;
    }

    private sealed class ClaimCounter
    {
        private int _count;

        public int Count => Volatile.Read(ref _count);

        public void Add() => Interlocked.Increment(ref _count);
    }

    /// <summary>The embedded webhook store, counting the dispatcher's rounds (one claim each).</summary>
    private sealed class ClaimCountingWebhookStore(IServiceProvider services, ClaimCounter counter) : IWebhookStore
    {
        private readonly SqliteWebhookStore _inner = ActivatorUtilities.CreateInstance<SqliteWebhookStore>(services);

        public Task<IReadOnlyList<WebhookDelivery>> ClaimDueAsync(DateTimeOffset now, DateTimeOffset leaseUntil, int max, CancellationToken cancellationToken)
        {
            counter.Add();
            return _inner.ClaimDueAsync(now, leaseUntil, max, cancellationToken);
        }

        public Task CreateAsync(Webhook webhook, CancellationToken cancellationToken) => _inner.CreateAsync(webhook, cancellationToken);

        public Task<Webhook?> GetAsync(string id, CancellationToken cancellationToken) => _inner.GetAsync(id, cancellationToken);

        public Task<IReadOnlyList<Webhook>> ListAsync(string orgId, CancellationToken cancellationToken) => _inner.ListAsync(orgId, cancellationToken);

        public Task<IReadOnlyList<Webhook>> ListAfterAsync(string orgId, TimeIdPosition? after, int? count, CancellationToken cancellationToken) =>
            _inner.ListAfterAsync(orgId, after, count, cancellationToken);

        public Task UpdateAsync(Webhook webhook, CancellationToken cancellationToken) => _inner.UpdateAsync(webhook, cancellationToken);

        public Task<bool> DeleteAsync(string id, CancellationToken cancellationToken) => _inner.DeleteAsync(id, cancellationToken);

        public Task EnqueueAsync(IReadOnlyList<WebhookDelivery> deliveries, CancellationToken cancellationToken) => _inner.EnqueueAsync(deliveries, cancellationToken);

        public Task SaveDeliveryAsync(WebhookDelivery delivery, CancellationToken cancellationToken) => _inner.SaveDeliveryAsync(delivery, cancellationToken);

        public Task<IReadOnlyList<WebhookDelivery>> ListDeliveriesAsync(string webhookId, TimeIdPosition? after, int limit, CancellationToken cancellationToken) =>
            _inner.ListDeliveriesAsync(webhookId, after, limit, cancellationToken);

        public Task<WebhookDelivery?> GetDeliveryAsync(string deliveryId, CancellationToken cancellationToken) => _inner.GetDeliveryAsync(deliveryId, cancellationToken);

        public Task<bool> MarkOnceAsync(string mark, DateTimeOffset now, TimeSpan keepFor, CancellationToken cancellationToken) =>
            _inner.MarkOnceAsync(mark, now, keepFor, cancellationToken);

        public Task AuditAsync(AuditEntry entry, CancellationToken cancellationToken) => _inner.AuditAsync(entry, cancellationToken);
    }
}
