using System.Net;
using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using Gateway.Tests.Common;

namespace Gateway.Tests.SecretScanning;

/// <summary>GitHub secret-scanning partner reports, signed with a P-256 key the test generates, on a real gateway.</summary>
public sealed class SecretScanningTests : GatewayFixture
{
    private const string Path = "/_gateway/secret-scanning";
    private readonly ECDsa _github = ECDsa.Create(ECCurve.NamedCurves.nistP256);
    private readonly ECDsa _stranger = ECDsa.Create(ECCurve.NamedCurves.nistP256);

    protected override Dictionary<string, string?> Settings(string upstream)
    {
        var settings = GatewayHost.Routes(upstream, ("all", "/{**rest}", []));
        settings["Gateway:SecretScanning:Enabled"] = "true";
        settings["Gateway:SecretScanning:PublicKeys:gh-key-1"] = _github.ExportSubjectPublicKeyInfoPem();
        return settings;
    }

    [OneTimeTearDown]
    public void DisposeKeys()
    {
        _github.Dispose();
        _stranger.Dispose();
    }

    private static string Hash(string token) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(token)));

    private async Task<HttpResponseMessage> PostAsync(string body, ECDsa? signer = null, string keyId = "gh-key-1", Action<HttpRequestMessage>? tamper = null)
    {
        var bytes = Encoding.UTF8.GetBytes(body);
        using var request = new HttpRequestMessage(HttpMethod.Post, Path) { Content = new ByteArrayContent(bytes) };
        request.Content.Headers.ContentType = new("application/json");
        if (signer is not null)
        {
            request.Headers.Add("GITHUB-PUBLIC-KEY-IDENTIFIER", keyId);
            request.Headers.Add("GITHUB-PUBLIC-KEY-SIGNATURE", Convert.ToBase64String(signer.SignData(bytes, HashAlgorithmName.SHA256, DSASignatureFormat.Rfc3279DerSequence)));
        }

        tamper?.Invoke(request);
        return await Host.Proxy.SendAsync(request);
    }

    private static string Report(params string[] tokens) =>
        new JsonArray(tokens.Select(t => (JsonNode)new JsonObject { ["token"] = t, ["type"] = "gateway_api_key", ["url"] = "https://github.com/octo/app/blob/abc/config.yml", ["source"] = "content" }).ToArray()).ToJsonString();

    private async Task<(string Org, string Key, string Id, string DefaultKey, string DefaultId)> OrgWithKeyAsync()
    {
        var org = "leak" + Guid.NewGuid().ToString("N")[..10];
        var created = await Host.CreateOrgAsync(org);
        var key = await Host.CreateKeyAsync(org, new { name = "server" });
        return (org, key.Str("key"), key.Str("id"), created.DefaultKey(), created.DefaultKeyId());
    }

    [Test]
    public async Task Report_ChunkSizeOverflowing_400BadRequestNever500()
    {
        var signature = Convert.ToBase64String(_github.SignData("[]"u8.ToArray(), HashAlgorithmName.SHA256, DSASignatureFormat.Rfc3279DerSequence));

        var response = await Gateway.Tests.Proxy.RawHttp.SendAsync(
            Host.ProxyUrl,
            $"POST {Path} HTTP/1.1\r\nHost: localhost\r\nGITHUB-PUBLIC-KEY-IDENTIFIER: gh-key-1\r\nGITHUB-PUBLIC-KEY-SIGNATURE: {signature}\r\n" +
            "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\nFFFFFFFFFFFF\r\n[]");

        Assert.That(response.Status, Is.EqualTo(400), response.Body);
        Assert.That(response.Code, Is.EqualTo("bad_request"), response.Body);
    }

    [Test]
    public async Task Report_SignedWithOurKeyAndAForeignToken_RevokesAndLabels()
    {
        var (org, key, id, _, _) = await OrgWithKeyAsync();
        var foreign = "ghp_notours1234567890";
        var typo = key[..^1] + (key[^1] == 'a' ? 'b' : 'a');

        using var response = await PostAsync(Report(key, foreign, typo), _github);

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        var feedback = (await response.Content.ReadFromJsonAsync<JsonArray>())!;
        Assert.That(feedback.Select(f => f!.Str("token_hash")), Is.EqualTo(new[] { Hash(key), Hash(foreign), Hash(typo) }));
        Assert.That(feedback.Select(f => f!.Str("label")), Is.EqualTo(new[] { "true_positive", "false_positive", "false_positive" }));
        Assert.That(feedback[0]!.Str("token_type"), Is.EqualTo("gateway_api_key"));
        Assert.That(await response.Content.ReadAsStringAsync(), Does.Not.Contain(key));
        Assert.That((await Host.AdminGetAsync($"admin/keys/{id}")).Str("status"), Is.EqualTo("revoked"));
        Assert.That(await Host.CodeAsync(key), Is.EqualTo("key_revoked"));

        var audit = await Host.AdminGetAsync($"admin/audit?org={org}");
        var leaked = audit["items"]!.AsArray().Single(e => e!.Str("action") == "key.leaked")!;
        Assert.That(leaked.Str("keyId"), Is.EqualTo(id));
        Assert.That(leaked["changes"]!["leakUrl"]!.Str("after"), Is.EqualTo("https://github.com/octo/app/blob/abc/config.yml"));
        Assert.That(leaked["changes"]!["leakSource"]!.Str("after"), Is.EqualTo("content"));
        Assert.That(leaked.ToJsonString(), Does.Not.Contain(key).And.Not.Contain(Hash(key)));
        Assert.That(Upstream.Received, Is.Empty, "the report must never reach an upstream");
    }

    [Test]
    public async Task Report_Repeated_IsIdempotent()
    {
        var (org, key, _, defaultKey, defaultId) = await OrgWithKeyAsync();
        var body = Report(key, defaultKey);

        using var first = await PostAsync(body, _github);
        var afterFirst = await Host.AdminGetAsync($"admin/keys/{defaultId}");
        using var second = await PostAsync(body, _github);
        var afterSecond = await Host.AdminGetAsync($"admin/keys/{defaultId}");

        Assert.That(await second.Content.ReadAsStringAsync(), Is.EqualTo(await first.Content.ReadAsStringAsync()));
        Assert.That(afterSecond.Str("prefix"), Is.EqualTo(afterFirst.Str("prefix")), "a repeat must not rotate the default key again");
        var audit = await Host.AdminGetAsync($"admin/audit?org={org}");
        Assert.That(audit["items"]!.AsArray().Count(e => e!.Str("action") == "key.leaked"), Is.EqualTo(2));
    }

    [Test]
    public async Task Report_DefaultKey_IsRotatedAndStaysActive()
    {
        var (_, _, _, defaultKey, defaultId) = await OrgWithKeyAsync();
        var before = await Host.AdminGetAsync($"admin/keys/{defaultId}");

        using var response = await PostAsync(Report(defaultKey), _github);

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        Assert.That((await response.Content.ReadFromJsonAsync<JsonArray>())![0]!.Str("label"), Is.EqualTo("true_positive"));
        var after = await Host.AdminGetAsync($"admin/keys/{defaultId}");
        Assert.That(after.Str("status"), Is.EqualTo("active"));
        Assert.That(after.Str("prefix"), Is.Not.EqualTo(before.Str("prefix")));
        Assert.That(after["previousKeyExpiresAt"], Is.Null);
        Assert.That(await Host.CodeAsync(defaultKey), Is.EqualTo("invalid_key"));
    }

    [Test]
    public async Task Report_UnsignedBadlySignedOrUnknownKeyId_Returns401AndChangesNothing()
    {
        var (_, key, id, _, _) = await OrgWithKeyAsync();
        var body = Report(key);

        using var unsigned = await PostAsync(body);
        using var stranger = await PostAsync(body, _stranger);
        using var unknownId = await PostAsync(body, _github, keyId: "gh-key-2");
        using var tampered = await PostAsync(body, _github, tamper: r => r.Content = new StringContent(Report(key, "x"), Encoding.UTF8, "application/json"));
        using var garbage = await PostAsync(body, _github, tamper: r =>
        {
            r.Headers.Remove("GITHUB-PUBLIC-KEY-SIGNATURE");
            r.Headers.Add("GITHUB-PUBLIC-KEY-SIGNATURE", "not base64!!");
        });

        foreach (var response in new[] { unsigned, stranger, unknownId, tampered, garbage })
        {
            Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.Unauthorized));
            Assert.That((await GatewayHost.ProblemAsync(response)).Str("code"), Is.EqualTo("invalid_signature"));
        }

        Assert.That((await Host.AdminGetAsync($"admin/keys/{id}")).Str("status"), Is.EqualTo("active"));
        Assert.That(await Host.StatusAsync(key), Is.EqualTo(HttpStatusCode.OK));
    }

    [TestCase(null, null)]
    [TestCase("gh-key-2", "plausible")]
    [TestCase("gh-key-1", null)]
    [TestCase("gh-key-1", "not base64!!")]
    [TestCase("gh-key-1", "long")]
    public async Task Report_MissingOrUnknownKeyIdOrImplausibleSignature_Returns401WithoutReadingTheBody(string? keyId, string? signature)
    {
        // Headers announcing 1 MiB, then only a few bytes: the answer must come without waiting for the rest.
        using var connection = await HeldReportAsync(keyId, signature switch
        {
            "plausible" => PlausibleSignature(),
            "long" => Convert.ToBase64String(new byte[200]),
            _ => signature,
        });
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(5));
        var status = await StatusLineAsync(connection, timeout.Token);

        Assert.That(status, Does.StartWith("HTTP/1.1 401"));
    }

    [Test]
    public async Task Report_MoreThanTheCapBeingRead_Returns503ReportsBusy()
    {
        // Reports with a known key identifier and a plausible signature whose bodies trickle in: each holds a slot.
        // They keep trickling faster than Kestrel's minimum body data rate, so a slow machine cannot see them cut
        // off (after its 5 s grace) before the probe below gets its answer.
        var held = new List<System.Net.Sockets.TcpClient>();
        using var stop = new CancellationTokenSource();
        Task? trickle = null;
        var seen = "nothing";
        try
        {
            for (var i = 0; i < Gateway.SecretScanning.ReportSlots.Capacity; i++)
            {
                held.Add(await HeldReportAsync("gh-key-1", PlausibleSignature()));
            }

            trickle = TrickleAsync(held, stop.Token);

            // A complete report over the cap is answered at once; below it, it would be read and refused as badly signed.
            await Eventually.HoldsAsync(async () =>
            {
                using var probe = await PostAsync("[]", _stranger);
                var code = probe.StatusCode == HttpStatusCode.OK ? "" : (await GatewayHost.ProblemAsync(probe)).Str("code");
                seen = $"{(int)probe.StatusCode} {code}";
                return probe.StatusCode == HttpStatusCode.ServiceUnavailable && code == "reports_busy";
            }, TimeSpan.FromSeconds(5), () => $"503 reports_busy (last seen: {seen})");
        }
        finally
        {
            await stop.CancelAsync();
            if (trickle is not null)
            {
                await trickle;
            }

            held.ForEach(c => c.Dispose());
        }

        // The slots come back when those clients go away.
        await Eventually.HoldsAsync(async () =>
        {
            using var probe = await PostAsync("[]", _stranger);
            seen = $"{(int)probe.StatusCode}";
            return probe.StatusCode == HttpStatusCode.Unauthorized;
        }, TimeSpan.FromSeconds(5), () => $"401 once the slots are free (last seen: {seen})");
    }

    /// <summary>Sends a few more bytes of each held report's token every 100 ms (640 B/s, over Kestrel's 240 B/s floor).</summary>
    private static async Task TrickleAsync(List<System.Net.Sockets.TcpClient> held, CancellationToken stop)
    {
        var bytes = Encoding.ASCII.GetBytes(new string('a', 64));
        try
        {
            while (!stop.IsCancellationRequested)
            {
                foreach (var client in held)
                {
                    await client.GetStream().WriteAsync(bytes, stop);
                }

                await Task.Delay(TimeSpan.FromMilliseconds(100), stop);
            }
        }
        catch (OperationCanceledException)
        {
        }
        catch (IOException)
        {
            // The gateway cut a report off; the probe's assertion says what it then saw.
        }
    }

    private static string PlausibleSignature()
    {
        var der = new byte[70];
        der[0] = 0x30;
        der[1] = 68;
        return Convert.ToBase64String(der);
    }

    /// <summary>A raw connection that sends a report's headers announcing 1 MiB and then only a few bytes of it.</summary>
    private async Task<System.Net.Sockets.TcpClient> HeldReportAsync(string? keyId, string? signature)
    {
        var client = new System.Net.Sockets.TcpClient();
        await client.ConnectAsync("127.0.0.1", Host.Proxy.BaseAddress!.Port);
        var head = new StringBuilder($"POST {Path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 1048576\r\n");
        if (keyId is not null)
        {
            head.Append("GITHUB-PUBLIC-KEY-IDENTIFIER: " + keyId + "\r\n");
        }

        if (signature is not null)
        {
            head.Append("GITHUB-PUBLIC-KEY-SIGNATURE: " + signature + "\r\n");
        }

        head.Append("\r\n[{\"token\":\"");
        await client.GetStream().WriteAsync(Encoding.ASCII.GetBytes(head.ToString()));
        return client;
    }

    private static async Task<string> StatusLineAsync(System.Net.Sockets.TcpClient client, CancellationToken cancellationToken)
    {
        var buffer = new byte[1024];
        var text = new StringBuilder();
        while (!text.ToString().Contains("\r\n", StringComparison.Ordinal))
        {
            var read = await client.GetStream().ReadAsync(buffer, cancellationToken);
            if (read == 0)
            {
                break;
            }

            text.Append(Encoding.ASCII.GetString(buffer, 0, read));
        }

        return text.ToString();
    }

    [Test]
    public async Task Report_TooManyTokensOrMalformed_Returns4xxAndChangesNothing()
    {
        var (_, key, id, _, _) = await OrgWithKeyAsync();
        var tooMany = Report([.. Enumerable.Repeat("ghp_x", 1000), key]);

        using var many = await PostAsync(tooMany, _github);
        using var notArray = await PostAsync("{\"token\":\"" + key + "\"}", _github);
        using var noToken = await PostAsync("[{\"type\":\"x\"}]", _github);
        using var broken = await PostAsync("[{\"token\":", _github);

        Assert.That((int)many.StatusCode, Is.EqualTo(413));
        foreach (var response in new[] { notArray, noToken, broken })
        {
            Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.BadRequest));
            Assert.That((await GatewayHost.ProblemAsync(response)).Str("code"), Is.EqualTo("invalid_report"));
        }

        Assert.That((await Host.AdminGetAsync($"admin/keys/{id}")).Str("status"), Is.EqualTo("active"));
    }

    [Test]
    public async Task Endpoint_OtherMethod_Returns405AndNeverReachesUpstream()
    {
        Upstream.Reset();
        using var response = await Host.CallAsync(Path, key: null);

        Assert.That((int)response.StatusCode, Is.EqualTo(405));
        Assert.That(Upstream.Received, Is.Empty);
    }

    [Test]
    public async Task AdminApi_PastedTokens_HandledLikeAReport()
    {
        var (org, key, id, _, _) = await OrgWithKeyAsync();

        var result = await Host.AdminPostAsync("admin/leaked-keys", new { tokens = new[] { key, "not-a-key" }, url = "file:///var/log/app.log", source = "log file" });

        var items = result["items"]!.AsArray();
        Assert.That(items.Select(i => i!.Str("label")), Is.EqualTo(new[] { "true_positive", "false_positive" }));
        Assert.That(items[0]!.Str("keyId"), Is.EqualTo(id));
        Assert.That(result.ToJsonString(), Does.Not.Contain(key));
        Assert.That((await Host.AdminGetAsync($"admin/keys/{id}")).Str("status"), Is.EqualTo("revoked"));
        var audit = await Host.AdminGetAsync($"admin/audit?org={org}");
        Assert.That(audit["items"]!.AsArray().Single(e => e!.Str("action") == "key.leaked")!["changes"]!["leakSource"]!.Str("after"), Is.EqualTo("log file"));

        using var empty = await Host.Admin.PostAsJsonAsync("admin/leaked-keys", new { tokens = Array.Empty<string>() });
        Assert.That(empty.StatusCode, Is.EqualTo(HttpStatusCode.BadRequest));
    }

    [Test]
    public async Task Cli_KeysLeakedFromFile_RevokesOurKeys()
    {
        var (_, key, id, _, _) = await OrgWithKeyAsync();
        var file = System.IO.Path.GetTempFileName();
        await File.WriteAllTextAsync(file, $"noise line\n{key}\n");
        using var output = new StringWriter();
        using var error = new StringWriter();

        var code = await Gateway.Cli.AdminCli.RunAsync(["keys", "leaked", "--file", file, "--source", "log file", "--admin-url", Host.AdminUrl.ToString(), "--token", GatewayHost.AdminToken], output, error);
        File.Delete(file);

        Assert.That(code, Is.Zero, error.ToString());
        Assert.That(output.ToString(), Does.Contain("true_positive").And.Not.Contain(key));
        Assert.That((await Host.AdminGetAsync($"admin/keys/{id}")).Str("status"), Is.EqualTo("revoked"));
    }

    [Test]
    public async Task Endpoint_Disabled_IsNotMapped()
    {
        await using var gateway = await GatewayHost.StartAsync();

        using var response = await gateway.Proxy.PostAsync(Path, new StringContent("[]"));

        Assert.That((await GatewayHost.ProblemAsync(response)).Str("code"), Is.EqualTo("no_route"));
    }

    [TestCase("Gateway:SecretScanning:Action", "delete", "Gateway:SecretScanning:Action")]
    [TestCase("Gateway:SecretScanning:Path", "no-slash", "Gateway:SecretScanning:Path")]
    [TestCase("Gateway:SecretScanning:PublicKeys:k", "not a pem", "Gateway:SecretScanning:PublicKeys:k")]
    public void Start_InvalidSecretScanningSetting_FailsNamingIt(string key, string value, string named)
    {
        var settings = new Dictionary<string, string?> { [key] = value };

        var ex = Assert.CatchAsync(async () => await GatewayHost.StartAsync(settings));

        Assert.That(string.Join("\n", Gateway.Hosting.StartupFailure.Describe(ex!)), Does.Contain(named));
    }
}
