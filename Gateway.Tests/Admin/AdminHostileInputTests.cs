using System.Net;
using System.Text;
using Gateway.Tests.Common;
using Gateway.Tests.Proxy;

namespace Gateway.Tests.Admin;

/// <summary>
/// Hostile admin input: every body and path gets a clear 4xx problem+json, never a 500, and nothing
/// already stored is lost or changed.
/// </summary>
public sealed class AdminHostileInputTests : GatewayFixture
{
    private const string OwnName = "{\"name\":\"precious\"}";

    private string _key = null!;
    private string _keyId = null!;
    private string _before = null!;

    [OneTimeSetUp]
    public async Task StartAsync()
    {
        await Host.CreateOrgAsync("acme");
        var key = await Host.CreateKeyAsync("acme", new { name = "precious", scopes = new[] { "read" } });
        _key = key["key"]!.GetValue<string>();
        _keyId = key["id"]!.GetValue<string>();
        _before = await SnapshotAsync();
    }

    public static IEnumerable<TestCaseData> Bodies()
    {
        string[] bodies =
        [
            "", " ", "null", "true", "1", "\"x\"", "[]", "[{}]", "{", "}", "{]", "{\"name\":}", "{\"name\":\"a\",}", "{'name':'a'}",
            "{\"name\":\"a\"} trailing", "// comment\n{}", "{\"name\":\"a\" /* c */}", "\u0000", "{\"name\":\"\\u0000\"}", "{\"name\":\"\\ud800\"}",
            "{\"name\":\"\\udc00x\"}", "{\"name\":\"a\\nb\"}", "{\"name\":\"' OR 1=1 --\"}", OwnName, "{\"name\":\"Robert'); DROP TABLE keys;--\"}",
            "{\"name\":\"<script>alert(1)</script>\"}", "{\"name\":\"../../etc/passwd\"}", "{\"name\":\"${jndi:ldap://x}\"}", "{\"name\":\"\u202Eevil\"}",
            "{\"name\":\"é\"}", "{\"name\":\"🔑\"}", "{\"name\":null}", "{\"name\":[]}", "{\"name\":{}}", "{\"name\":1e309}", "{\"name\":-0}",
            "{\"name\":\"a\",\"name\":\"b\",\"scopes\":\"*\"}", "{\"name\":\"ok\",\"scopes\":[null]}", "{\"name\":\"ok\",\"scopes\":[[]]}", "{\"name\":\"ok\",\"scopes\":[\"*\",\"nope\"]}",
            "{\"name\":\"ok\",\"environment\":\"PRODUCTION\"}", "{\"name\":\"ok\",\"environment\":\"\"}", "{\"name\":\"ok\",\"environment\":null}",
            "{\"name\":\"ok\",\"expiresAt\":\"0001-01-01T00:00:00Z\"}", "{\"name\":\"ok\",\"expiresAt\":\"9999-99-99\"}", "{\"name\":\"ok\",\"expiresAt\":\"\"}",
            "{\"name\":\"ok\",\"expiresAt\":true}", "{\"name\":\"ok\",\"rateLimit\":{\"permitLimit\":2147483648,\"window\":\"00:01:00\"}}",
            "{\"name\":\"ok\",\"rateLimit\":{\"permitLimit\":1.5,\"window\":\"00:01:00\"}}", "{\"name\":\"ok\",\"rateLimit\":{\"permitLimit\":1,\"window\":\"-00:01:00\"}}",
            "{\"name\":\"ok\",\"rateLimit\":{\"permitLimit\":1,\"window\":\"10675199.02:48:05.4775807\"}}", "{\"name\":\"ok\",\"rateLimit\":[]}",
            "{\"name\":\"ok\",\"rateLimit\":{\"permitLimit\":1,\"window\":\"00:01:00\",\"extra\":1}}", "{\"name\":\"ok\",\"customerId\":\"a b\"}",
            "{\"name\":\"ok\",\"customerId\":\"" + new string('c', 200) + "\"}", "{\"name\":\"ok\",\"description\":\"" + new string('d', 2000) + "\"}",
            "{\"name\":\"" + new string('n', 10_000) + "\"}", "{\"name\":\"ok\",\"createdBy\":\"" + new string('x', 500) + "\"}",
            "{\"name\":\"ok\",\"isDefault\":true}", "{\"name\":\"ok\",\"orgId\":\"other\"}", "{\"name\":\"ok\",\"hash\":\"abc\"}", "{\"name\":\"ok\",\"status\":\"active\"}",
            "{\"__proto__\":{\"admin\":true}}", "{\"\\ud800\":1}", "{\"name\":\"ok\",\"\\udfff\\ud800\":1}", "{\"name\":\"ok\",\"name\":\"a b\"}",
            "{\"name\":\"bad name\",\"name\":\"ok\"}", "{\"name\":\"ok\",\"scopes\":[\"read\"],\"scopes\":[\"*\"],\"environment\":\"staging\",\"environment\":\"x\"}", "{\"constructor\":{}}", new string('[', 1000) + new string(']', 1000), Nest(64), Nest(9),
            "{\"name\":\"ok\",\"scopes\":" + "[" + string.Join(',', Enumerable.Repeat("\"read\"", 100)) + "]}",
        ];
        foreach (var body in bodies)
        {
            yield return new TestCaseData(body).SetArgDisplayNames(body.Length > 40 ? body[..40] + $"…({body.Length})" : body);
        }
    }

    [TestCaseSource(nameof(Bodies))]
    public async Task CreateKey_HostileBody_4xxProblemAndNothingLost(string body)
    {
        using var response = await Host.Admin.PostAsync("admin/orgs/acme/keys", new StringContent(body, Encoding.UTF8, "application/json"));

        await AssertRefusedAsync(response);
    }

    /// <summary>
    /// The create bodies, less the one that renames the key to its own name: for create that name is
    /// taken (refused), for a PATCH of that same key it is a valid no-op, proved by its own test below.
    /// </summary>
    public static IEnumerable<TestCaseData> PatchBodies() =>
        Bodies().Where(data => (string?)data.Arguments[0] != OwnName);

    [TestCaseSource(nameof(PatchBodies))]
    public async Task PatchKey_HostileBody_4xxProblemAndNothingLost(string body)
    {
        using var response = await Host.Admin.PatchAsync($"admin/keys/{_keyId}", new StringContent(body.Replace("\"name\":\"ok\",", "", StringComparison.Ordinal), Encoding.UTF8, "application/json"));

        await AssertRefusedAsync(response);
    }

    [Test]
    public async Task PatchKey_RenameToOwnName_OkAndNothingChanged()
    {
        using var response = await Host.Admin.PatchAsync($"admin/keys/{_keyId}", new StringContent(OwnName, Encoding.UTF8, "application/json"));

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK), await response.Content.ReadAsStringAsync());
        Assert.That(await SnapshotAsync(), Is.EqualTo(_before), "stored orgs and keys are unchanged");
        Assert.That(await Host.StatusAsync(_key), Is.EqualTo(HttpStatusCode.OK), "the stored key still authenticates");
    }

    [TestCase("admin/orgs/..%2F..%2Fetc")]
    [TestCase("admin/orgs/acme%2Fkeys")]
    [TestCase("admin/orgs/" + "a%C3%A9")]
    [TestCase("admin/keys/..%2Fkeys")]
    [TestCase("admin/keys/%27%20OR%201%3D1")]
    [TestCase("admin/keys/key_%F0%9F%94%91/revoke")]
    [TestCase("admin/audit?org=%27%20OR%201%3D1&limit=-1")]
    [TestCase("admin/audit?org=acme&limit=99999999999")]
    [TestCase("admin/audit?org=acme&cursor=not-a-cursor")]
    [TestCase("admin/audit?org=acme&cursor=-5")]
    public async Task HostilePaths_4xxProblem(string path)
    {
        using var get = await Host.Admin.GetAsync(path);
        using var post = await Host.Admin.PostAsync(path, new StringContent("{}", Encoding.UTF8, "application/json"));

        await AssertRefusedAsync(get);
        await AssertRefusedAsync(post);
    }

    [Test]
    public async Task NulInPath_RejectedByKestrelWith400()
    {
        // Kestrel refuses a decoded NUL in the path before any middleware runs: a plain 400, never a 500.
        using var response = await Host.Admin.GetAsync("admin/orgs/%00");

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.BadRequest));
        Assert.That(await SnapshotAsync(), Is.EqualTo(_before));
    }

    [Test]
    public async Task CreateOrg_BodyOver64KiB_Returns413()
    {
        using var response = await Host.Admin.PostAsync("admin/orgs", new StringContent("{\"id\":\"big\",\"name\":\"" + new string('x', 70_000) + "\"}", Encoding.UTF8, "application/json"));

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.RequestEntityTooLarge));
        await AssertRefusedAsync(response);
    }

    [TestCase("admin/orgs", "FFFFFFFFFFFF\r\n{}", TestName = "CreateOrg_ChunkSizeOverflowing_400BadRequestProblem")]
    [TestCase("admin/orgs", "zz\r\n{}\r\n0\r\n\r\n", TestName = "CreateOrg_ChunkSizeNotHex_400BadRequestProblem")]
    [TestCase("admin/orgs/acme/keys", "10000000000000000\r\n{}", TestName = "CreateKey_ChunkSizeOverflowing_400BadRequestProblem")]
    [TestCase("v1/keys/verify", "FFFFFFFFFFFF\r\n{}", TestName = "Verify_ChunkSizeOverflowing_400BadRequestProblem")]
    public async Task BadChunkFraming_400BadRequestProblemNever500(string path, string body)
    {
        // Kestrel throws these from the body read inside the handler; they were answered 500 with no body.
        var response = await RawHttp.SendAsync(
            Host.AdminUrl,
            $"POST /{path} HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {GatewayHost.AdminToken}\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n{body}");

        Assert.That(response.Status, Is.EqualTo(400), response.Body);
        Assert.That(response.Code, Is.EqualTo("bad_request"), response.Body);
        Assert.That(await SnapshotAsync(), Is.EqualTo(_before), "stored orgs and keys are unchanged");
    }

    private static string Nest(int depth) => string.Concat(Enumerable.Repeat("{\"a\":", depth)) + "1" + new string('}', depth);

    private async Task AssertRefusedAsync(HttpResponseMessage response)
    {
        Assert.That((int)response.StatusCode, Is.InRange(400, 499), await response.Content.ReadAsStringAsync());
        Assert.That(response.Content.Headers.ContentType?.MediaType, Is.EqualTo("application/problem+json"));
        var detail = System.Text.Json.Nodes.JsonNode.Parse(await response.Content.ReadAsStringAsync())?["detail"]?.ToString() ?? "";
        Assert.That(detail, Does.Not.Match(@"\(\s*\)|line\s*,|byte\s*\)"), "a detail never has blanks where a value should be");
        Assert.That(await SnapshotAsync(), Is.EqualTo(_before), "stored orgs and keys are unchanged");
        Assert.That(await Host.StatusAsync(_key), Is.EqualTo(HttpStatusCode.OK), "the stored key still authenticates");
    }

    private async Task<string> SnapshotAsync()
    {
        var orgs = await Host.AdminGetAsync("admin/orgs");
        var keys = await Host.AdminGetAsync("admin/orgs/acme/keys");
        foreach (var key in keys["items"]!.AsArray())
        {
            key!.AsObject().Remove("lastUsedAt");
        }

        return orgs.ToJsonString() + keys.ToJsonString();
    }
}
