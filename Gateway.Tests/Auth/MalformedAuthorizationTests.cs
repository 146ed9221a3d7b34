using System.Net;
using System.Net.Sockets;
using System.Text;
using Gateway.Keys;
using Gateway.Stores;
using Gateway.Tests.Common;
using Microsoft.Extensions.DependencyInjection;

namespace Gateway.Tests.Auth;

/// <summary>
/// A corpus of broken Authorization headers: every one gets a 401 (or Kestrel's own 400 for bytes HTTP
/// forbids), never a 500, and none reaches the upstream or the store.
/// </summary>
public sealed class MalformedAuthorizationTests : GatewayFixture
{
    private CountingStore _store = null!;
    private string _key = null!;

    protected override void ConfigureServices(IServiceCollection services) =>
        services.AddSingleton<IKeyLookup>(sp => _store = new CountingStore(sp.GetRequiredService<IGatewayStore>()));

    [OneTimeSetUp]
    public async Task StartAsync()
    {
        await Host.CreateOrgAsync("acme");
        _key = (await Host.CreateKeyAsync("acme", new { name = "k" })).Str("key");
    }

    [SetUp]
    public void Reset()
    {
        Upstream.Reset();
        _store.Lookups = 0;
    }

    public static IEnumerable<TestCaseData> Corpus()
    {
        var valid = ApiKeyFormat.Generate("gw", "production");
        var body = valid[..^6];
        string[] values =
        [
            "Bearer",
            "Bearer ",
            "Bearer  " + valid,
            "Bearer\t" + valid,
            // (Leading and trailing spaces are optional whitespace in HTTP: Kestrel trims them, so they are not malformed.)
            "Bearer " + valid + "\t" + valid,
            "Bearer " + valid.Replace("gw_live_", "gw_live__", StringComparison.Ordinal),
            "Bearer " + valid + " extra",
            "Bearer " + valid + "," + valid,
            "Bearer " + valid + ", Bearer " + valid,
            "Basic " + Convert.ToBase64String(Encoding.ASCII.GetBytes("user:" + valid)),
            "Basic dXNlcjpwYXNz",
            "Token " + valid,
            "Digest username=\"x\"",
            "ApiKey " + valid,
            "Bearer" + valid,
            "BearerX " + valid,
            "Bear " + valid,
            valid,
            "Bearer gw_live_",
            "Bearer gw_live_short",
            "Bearer gw_live_" + new string('a', 38),
            "Bearer gw_live_" + new string('a', 37),
            "Bearer gw_live_" + new string('a', 39),
            "Bearer " + body + "000000",
            "Bearer " + body + "zzzzzz",
            "Bearer " + valid[..^1],
            "Bearer " + valid + "A",
            "Bearer " + valid.ToUpperInvariant(),
            "Bearer " + valid.Replace("gw_live_", "gw_stage_", StringComparison.Ordinal),
            "Bearer " + valid.Replace("gw_live_", "gw_dev_", StringComparison.Ordinal),
            "Bearer " + valid.Replace("gw_live_", "gw_prod_", StringComparison.Ordinal),
            "Bearer " + valid.Replace("gw_live_", "xx_live_", StringComparison.Ordinal),
            "Bearer " + valid.Replace("gw_live_", "GW_live_", StringComparison.Ordinal),
            "Bearer " + valid.Replace("_", "-", StringComparison.Ordinal),
            "Bearer " + valid.Replace("_", "", StringComparison.Ordinal),
            "Bearer " + valid[..20] + "!" + valid[21..],
            "Bearer " + valid[..20] + "%41" + valid[21..],
            "Bearer \"" + valid + "\"",
            "Bearer '" + valid + "'",
            "Bearer <" + valid + ">",
            "Bearer " + valid + ";",
            "Bearer null",
            "Bearer undefined",
            "Bearer 0",
            "Bearer " + new string('x', 1000),
            "Bearer " + new string('A', 10_000),
            "Bearer " + new string('A', 30_000),
            "Bearer ../../etc/passwd",
            "Bearer ' OR 1=1 --",
            "Bearer ${jndi:ldap://127.0.0.1/a}",
            "Bearer {{7*7}}",
            "Bearer %00",
            "Bearer =?utf-8?b?Z3dfbGl2ZV8=?=",
            "Bearer " + Convert.ToBase64String(Encoding.ASCII.GetBytes(valid)),
            "bearer",
            "BEARER",
            "Bearer gw_live__" + valid[8..],
            "Bearer gw__live_" + valid[8..],
            "Bearer _live_" + valid[8..],
        ];
        foreach (var value in values)
        {
            var label = value.Length > 60 ? value[..60] + $"…({value.Length})" : value;
            yield return new TestCaseData(value).SetArgDisplayNames(label);
        }
    }

    [TestCaseSource(nameof(Corpus))]
    public async Task Invoke_MalformedAuthorization_Returns401WithoutUpstreamOrStore(string value)
    {
        using var response = await Host.CallAsync("/api/x", null, r => r.Headers.TryAddWithoutValidation("Authorization", value));

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.Unauthorized));
        var code = (await GatewayHost.ProblemAsync(response)).Str("code");
        Assert.That(code, Is.AnyOf("invalid_key", "missing_key"));
        Assert.That(response.Headers.WwwAuthenticate.ToString(), Is.EqualTo(code == "missing_key" ? "Bearer" : "Bearer error=\"invalid_token\""));
        Assert.That(Upstream.Received, Is.Empty);
        Assert.That(_store.Lookups, Is.Zero, "a malformed key must be rejected before any store lookup");
    }

    [Test]
    public async Task Invoke_EmptyAuthorization_IsMissingKey()
    {
        using var response = await Host.CallAsync("/api/x", null, r => r.Headers.TryAddWithoutValidation("Authorization", ""));

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.Unauthorized));
        Assert.That((await GatewayHost.ProblemAsync(response)).Str("code"), Is.EqualTo("missing_key"));
        Assert.That(Upstream.Received, Is.Empty);
    }

    [TestCase("bearer")]
    [TestCase("BEARER")]
    [TestCase("BeArEr")]
    public async Task Invoke_SchemeInAnyCase_Works(string scheme)
    {
        using var response = await Host.CallAsync("/api/x", null, r => r.Headers.TryAddWithoutValidation("Authorization", scheme + " " + _key));

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK));
    }

    [Test]
    public async Task Invoke_EveryOneCharacterMutationOfAValidKey_RejectedWithoutStoreCall()
    {
        var alphabet = "aZ09_";
        var statuses = new List<HttpStatusCode>();
        for (var i = 0; i < _key.Length; i++)
        {
            var replacement = alphabet.First(c => c != _key[i]);
            var mutated = _key[..i] + replacement + _key[(i + 1)..];
            using var response = await Host.CallAsync("/api/x", mutated);
            statuses.Add(response.StatusCode);
        }

        Assert.That(statuses, Has.Count.EqualTo(_key.Length));
        Assert.That(statuses, Is.All.EqualTo(HttpStatusCode.Unauthorized));
        Assert.That(_store.Lookups, Is.Zero);
        Assert.That(Upstream.Received, Is.Empty);
    }

    [Test]
    public async Task Invoke_NonAsciiAndControlBytes_NeverReachUpstreamNor500()
    {
        foreach (var raw in new[] { "Bearer gw_live_é" + new string('a', 37), "Bearer \u00ff\u00fe", "Bearer a\u0001b", "Bearer 🔑" })
        {
            var (status, _) = await RawRequestAsync($"GET /api/x HTTP/1.1\r\nHost: x\r\nAuthorization: {raw}\r\nConnection: close\r\n\r\n", Encoding.UTF8);
            Assert.That(status, Is.EqualTo(400).Or.EqualTo(401), raw);
        }

        Assert.That(Upstream.Received, Is.Empty);
    }

    [Test]
    public async Task Invoke_TwoAuthorizationHeaders_Returns401InvalidKey()
    {
        var (status, response) = await RawRequestAsync($"GET /api/x HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {_key}\r\nAuthorization: Bearer {_key}\r\nConnection: close\r\n\r\n", Encoding.ASCII);

        Assert.That(status, Is.EqualTo(401));
        Assert.That(response, Does.Contain("\"code\":\"invalid_key\""));
        Assert.That(Upstream.Received, Is.Empty);
    }

    private async Task<(int Status, string Response)> RawRequestAsync(string request, Encoding encoding)
    {
        using var client = new TcpClient();
        await client.ConnectAsync(IPAddress.Loopback, Host.ProxyUrl.Port);
        await using var stream = client.GetStream();
        await stream.WriteAsync(encoding.GetBytes(request));
        using var reader = new StreamReader(stream, Encoding.UTF8);
        var response = await reader.ReadToEndAsync();
        var status = int.Parse(response.Split(' ')[1], System.Globalization.CultureInfo.InvariantCulture);
        return (status, response);
    }
}
