using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using CsCheck;
using Gateway.Tests.Common;

namespace Gateway.Tests.Admin;

/// <summary>
/// Generated bodies (valid JSON of every shape, near-valid JSON, raw bytes) sent to every admin call
/// that reads one: the answer is never a 5xx, a refusal is a problem+json 4xx, and a refused call
/// changes nothing stored.
/// </summary>
[TestFixtureSource(typeof(StoreKinds), nameof(StoreKinds.All))]
[NonParallelizable]
public sealed class AdminJsonPropertyTests(StoreKind store) : GatewayFixture(store)
{
    private static readonly string[] Fields =
        ["id", "name", "environment", "scopes", "description", "expiresAt", "createdBy", "customerId", "rateLimit", "permitLimit", "window", "gracePeriod", "key", "state", ""];

    private static readonly Gen<string> Scalar = Gen.Frequency(
        (2, Gen.OneOfConst("null", "true", "false", "0", "-1", "1e400", "1.5", "9223372036854775808", "1000000", "1000001")),
        (3, Gen.OneOfConst(
            "k1", "read", "write", "admin", "*", "production", "staging", "dev", "", " ", "cust_1", "a b", "00:00:01", "00:10:00",
            "1.00:00:00", "2.00:00:00", "-00:00:01", "2999-01-01T00:00:00Z", "2000-01-01T00:00:00Z", "not a date", "\u0000", "\ud800", "é",
            new string('x', 65), new string('y', 1001)).Select(s => JsonSerializer.Serialize(s))),
        (1, Gen.String.Select(s => JsonSerializer.Serialize(s))),
        (1, Gen.Long.Select(l => l.ToString(System.Globalization.CultureInfo.InvariantCulture))));

    private static readonly Gen<string> Json = Value(3);

    /// <summary>Bytes of a body: JSON of any shape, JSON with one byte broken, or noise.</summary>
    private static readonly Gen<byte[]> Body = Gen.Frequency(
        (6, Json.Select(Encoding.UTF8.GetBytes)),
        (2, Gen.Select(Json, Gen.Int[0, 1000], Gen.Byte, (json, at, b) =>
        {
            var bytes = Encoding.UTF8.GetBytes(json);
            if (bytes.Length > 0)
            {
                bytes[at % bytes.Length] = b;
            }

            return bytes;
        })),
        (1, Gen.Select(Json, Gen.Int[0, 1000], (json, at) => Encoding.UTF8.GetBytes(json[..(at % (json.Length + 1))]))),
        (1, Gen.Byte.Array[0, 64]));

    private string _keyId = null!;

    [OneTimeSetUp]
    public async Task StartAsync()
    {
        await Host.CreateOrgAsync("acme");
        _keyId = (await Host.CreateKeyAsync("acme", new { name = "target", scopes = new[] { "read" } }))["id"]!.GetValue<string>();
    }

    [Test]
    public async Task AdminCalls_GeneratedBodies_Never5xx_RefusalChangesNothing()
    {
        var calls = Gen.OneOfConst(
            (HttpMethod.Post, "admin/orgs"),
            (HttpMethod.Post, "admin/orgs/acme/keys"),
            (HttpMethod.Patch, $"admin/keys/{_keyId}"),
            (HttpMethod.Post, $"admin/keys/{_keyId}/rotate"));
        var before = await SnapshotAsync();
        var refused = 0;

        await Gen.Select(calls, Body).SampleAsync(async (call, body) =>
        {
            using var request = new HttpRequestMessage(call.Item1, call.Item2) { Content = new ByteArrayContent(body) };
            request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
            using var response = await Host.Admin.SendAsync(request);
            var status = (int)response.StatusCode;
            Assert.That(status, Is.LessThan(500), Encoding.UTF8.GetString(body));
            if (status >= 400)
            {
                refused++;
                Assert.That(response.Content.Headers.ContentType?.MediaType, Is.EqualTo("application/problem+json"));
                Assert.That(await SnapshotAsync(), Is.EqualTo(before), $"refused with {status} but changed stored state: {Encoding.UTF8.GetString(body)}");
            }
            else
            {
                before = await SnapshotAsync();
            }
        }, iter: 200, threads: 1);

        Assert.That(refused, Is.GreaterThan(100), "most generated bodies are refusals; the property is about them");
    }

    private static Gen<string> Value(int depth)
    {
        if (depth == 0)
        {
            return Scalar;
        }

        var inner = Value(depth - 1);
        var member = Gen.Select(Gen.Frequency((5, Gen.OneOfConst(Fields)), (1, Gen.String[0, 8])), inner, (name, value) => JsonSerializer.Serialize(name) + ":" + value);
        return Gen.Frequency(
            (2, Scalar),
            (1, inner.Array[0, 4].Select(items => "[" + string.Join(',', items) + "]")),
            (4, member.Array[0, 5].Select(members => "{" + string.Join(',', members) + "}")));
    }

    /// <summary>Everything an admin call could have changed: orgs, the org's keys, one key, the audit log.</summary>
    private async Task<string> SnapshotAsync()
    {
        var parts = new List<string>();
        foreach (var path in new[] { "admin/orgs", "admin/orgs/acme/keys", $"admin/keys/{_keyId}", "admin/audit?org=acme&limit=100" })
        {
            using var response = await Host.Admin.GetAsync(path);
            parts.Add($"{(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}");
        }

        return string.Join('\n', parts);
    }
}
