using System.Net;
using System.Net.Http.Json;
using Gateway.Tests.Common;
using Gateway.Webhooks;
using Microsoft.Extensions.DependencyInjection;

namespace Gateway.Tests.Webhooks;

/// <summary>Webhook URLs cannot reach the gateway's own networks (SSRF): at creation, and on the address resolved at delivery.</summary>
public sealed class WebhookUrlTests
{
    private static async Task<HttpResponseMessage> CreateAsync(GatewayHost gateway, string url) =>
        await gateway.Admin.PostAsJsonAsync("admin/orgs/acme/webhooks", new { url, events = new[] { "key.created" } });

    [TestCase("https://127.0.0.1/hook")]
    [TestCase("https://127.8.9.10/hook")]
    [TestCase("https://localhost/hook")]
    [TestCase("https://169.254.169.254/latest/meta-data/")]
    [TestCase("https://10.1.2.3/hook")]
    [TestCase("https://172.20.0.1/hook")]
    [TestCase("https://192.168.1.1/hook")]
    [TestCase("https://100.64.0.1/hook")]
    [TestCase("https://0.0.0.0/hook")]
    [TestCase("https://[::1]/hook")]
    [TestCase("https://[fe80::1]/hook")]
    [TestCase("https://[fd00::1]/hook")]
    [TestCase("https://[::ffff:127.0.0.1]/hook")]
    [TestCase("https://[::ffff:169.254.169.254]/hook")]
    [TestCase("https://[64:ff9b::a9fe:a9fe]/hook")]
    [TestCase("https://[::127.0.0.1]/hook")]
    [TestCase("https://[::a9fe:a9fe]/hook")]
    [TestCase("https://[2002:7f00:1::]/hook")]
    [TestCase("https://[2002:a9fe:a9fe::1]/hook")]
    [TestCase("https://[2001:0:4136:e378:8000:63bf:3fff:fdd2]/hook")]
    [TestCase("https://[100::1]/hook")]
    [TestCase("https://93.184.216.34:0/hook")]
    [TestCase("http://93.184.216.34/hook")]
    [TestCase("ftp://93.184.216.34/hook")]
    [TestCase("https://user:pw@93.184.216.34/hook")]
    public async Task Create_UrlIntoPrivateNetworksOrNotHttps_Returns400WebhookUrlNotAllowed(string url)
    {
        await using var gateway = await GatewayHost.StartAsync();
        await gateway.CreateOrgAsync("acme");
        using var response = await CreateAsync(gateway, url);
        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.BadRequest));
        Assert.That((await GatewayHost.ProblemAsync(response))["code"]!.GetValue<string>(), Is.EqualTo("webhook_url_not_allowed"));
    }

    [TestCase("https://93.184.216.34/hook")]
    [TestCase("https://[2002:5db8:d822::1]/hook")]
    [TestCase("https://[2606:4700::6810:84e5]/hook")]
    public async Task Create_PublicHttpsAddress_IsAccepted(string url)
    {
        await using var gateway = await GatewayHost.StartAsync();
        await gateway.CreateOrgAsync("acme");
        using var response = await CreateAsync(gateway, url);
        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.Created));
    }

    [Test]
    public async Task Create_GatewaysOwnListener_RefusedEvenWithPrivateNetworksAllowed()
    {
        await using var gateway = await GatewayHost.StartAsync(WebhookDeliveryTests.FastSettings());
        await gateway.CreateOrgAsync("acme");
        foreach (var url in new[] { new Uri(gateway.AdminUrl, "admin/orgs").ToString(), gateway.ProxyUrl.ToString(), $"http://localhost:{gateway.AdminUrl.Port}/" })
        {
            using var response = await CreateAsync(gateway, url);
            Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.BadRequest), url);
            Assert.That((await GatewayHost.ProblemAsync(response))["code"]!.GetValue<string>(), Is.EqualTo("webhook_url_not_allowed"));
        }

        using var patchTarget = await CreateAsync(gateway, "http://127.0.0.1:9/hook");
        Assert.That(patchTarget.StatusCode, Is.EqualTo(HttpStatusCode.Created));
        var id = (await patchTarget.Content.ReadFromJsonAsync<System.Text.Json.Nodes.JsonObject>())!["id"]!.GetValue<string>();
        using var patch = await gateway.Admin.PatchAsJsonAsync($"admin/webhooks/{id}", new { url = gateway.AdminUrl.ToString() });
        Assert.That(patch.StatusCode, Is.EqualTo(HttpStatusCode.BadRequest));
    }

    [Test]
    public async Task Delivery_HostNameResolvingToLoopbackAtDelivery_IsRefusedAndNothingSent()
    {
        using var receiver = new WebhookReceiver();
        var dns = new RebindingDns("hooks.example.test", IPAddress.Parse("93.184.216.34"), IPAddress.Loopback);
        var settings = WebhookDeliveryTests.FastSettings();
        settings["Gateway:Webhooks:AllowPrivateNetworks"] = "false";
        await using var gateway = await GatewayHost.StartAsync(settings, services => services.AddSingleton<IWebhookDns>(dns));
        await gateway.CreateOrgAsync("acme");

        // At creation the name resolves to a public address; at delivery to 127.0.0.1, where the receiver listens.
        var (hookId, _) = await WebhookDeliveryTests.CreateWebhookAsync(gateway, "acme", $"http://hooks.example.test:{receiver.Port}/hook", "key.created");
        await gateway.CreateKeyAsync("acme", new { name = "svc" });

        var deliveries = await Eventually.ValueAsync(
            () => WebhookDeliveryTests.DeliveriesAsync(gateway, hookId),
            d => d.Count == 1 && d[0]!["lastError"] is not null,
            TimeSpan.FromSeconds(15),
            "a refused attempt");
        Assert.That(deliveries[0]!["lastError"]!.GetValue<string>(), Does.Contain("Refused"));
        Assert.That(deliveries[0]!["status"]!.GetValue<string>(), Is.EqualTo("pending"));
        Assert.That(dns.Lookups, Is.GreaterThanOrEqualTo(2), "resolved again at delivery");
        Assert.That(receiver.Posts, Is.Empty, "nothing reached the loopback receiver");
    }

    [Test]
    public async Task Delivery_RedirectFromReceiver_IsNotFollowed()
    {
        using var target = new WebhookReceiver();
        using var redirector = WireMock.Server.WireMockServer.Start();
        redirector.Given(WireMock.RequestBuilders.Request.Create().UsingPost())
            .RespondWith(WireMock.ResponseBuilders.Response.Create().WithStatusCode(307).WithHeader("Location", target.Url));
        await using var gateway = await GatewayHost.StartAsync(WebhookDeliveryTests.FastSettings());
        await gateway.CreateOrgAsync("acme");
        var (hookId, _) = await WebhookDeliveryTests.CreateWebhookAsync(gateway, "acme", $"http://127.0.0.1:{redirector.Port}/hook", "key.created");
        await gateway.CreateKeyAsync("acme", new { name = "svc" });
        var deliveries = await Eventually.ValueAsync(
            () => WebhookDeliveryTests.DeliveriesAsync(gateway, hookId),
            d => d.Count == 1 && d[0]!["responseStatus"] is not null,
            TimeSpan.FromSeconds(15),
            "an attempt answered");
        Assert.That(deliveries[0]!["responseStatus"]!.GetValue<int>(), Is.EqualTo(307));
        Assert.That(deliveries[0]!["status"]!.GetValue<string>(), Is.EqualTo("pending"), "a redirect is not a success");
        Assert.That(target.Posts, Is.Empty);
    }

    private sealed class RebindingDns(string host, IPAddress first, IPAddress later) : IWebhookDns
    {
        private int _lookups;

        public int Lookups => _lookups;

        public Task<IPAddress[]> ResolveAsync(string name, CancellationToken cancellationToken)
        {
            if (!string.Equals(name, host, StringComparison.OrdinalIgnoreCase))
            {
                return Dns.GetHostAddressesAsync(name, cancellationToken);
            }

            return Task.FromResult(Interlocked.Increment(ref _lookups) == 1 ? new[] { first } : new[] { later });
        }
    }
}
