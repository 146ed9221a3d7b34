using System.Text.Json.Nodes;
using Gateway.Domain;
using Gateway.Keys;

using Gateway.Tests.Common;

namespace Gateway.Tests.Keys;

/// <summary>What an audit entry records for each change of a key, and that key material never goes in.</summary>
public sealed class AuditChangesTests
{
    private static readonly DateTimeOffset At = new(2030, 1, 2, 3, 4, 5, 678, TimeSpan.Zero);

    private static readonly ApiKeyRecord Key = new()
    {
        Id = "key_1",
        OrgId = "acme",
        Name = "svc",
        Prefix = "gw_live_abcdef",
        Hash = "hash-current",
        Environment = KeyEnvironments.Production,
        Scopes = ["read"],
        CreatedAt = At,
        UpdatedAt = At,
    };

    private static IEnumerable<TestCaseData> Changes()
    {
        static TestCaseData Case(string field, ApiKeyRecord after, string before, string afterJson) =>
            new TestCaseData(after, field, before, afterJson).SetArgDisplayNames(field);

        yield return Case("name", Key with { Name = "svc2" }, "\"svc\"", "\"svc2\"");
        yield return Case("scopes", Key with { Scopes = ["read", "write"] }, "[\"read\"]", "[\"read\",\"write\"]");
        yield return Case("status", Key with { State = KeyState.Revoked }, "\"active\"", "\"revoked\"");
        yield return Case("description", Key with { Description = "d" }, "null", "\"d\"");
        yield return Case("expiresAt", Key with { ExpiresAt = At }, "null", "\"2030-01-02T03:04:05.678Z\"");
        yield return Case("customerId", Key with { CustomerId = "c-1" }, "null", "\"c-1\"");
        yield return Case("rateLimit", Key with { RateLimit = new KeyRateLimit(5, TimeSpan.FromMinutes(1)) }, "null", "{\"permitLimit\":5,\"window\":\"00:01:00\"}");
        yield return Case("previousKeyExpiresAt", Key with { PreviousHash = "hash-old", PreviousHashExpiresAt = At }, "null", "\"2030-01-02T03:04:05.678Z\"");
    }

    [TestCaseSource(nameof(Changes))]
    public void Diff_OneFieldChanged_OnlyThatFieldWithBeforeAndAfter(ApiKeyRecord after, string field, string before, string afterJson)
    {
        var json = JsonNode.Parse(AuditChanges.Diff(Key, after).ToJson()!)!.AsObject();

        Assert.That(json.Select(p => p.Key), Is.EqualTo(new[] { field }));
        Assert.That(json[field]!["before"]?.ToJsonString() ?? "null", Is.EqualTo(before));
        Assert.That(json[field]!["after"]?.ToJsonString() ?? "null", Is.EqualTo(afterJson));
    }

    [Test]
    public void Diff_SameScopesInANewList_Empty()
    {
        var changes = AuditChanges.Diff(Key, Key with { Scopes = new List<string> { "read" }, UpdatedAt = At.AddHours(1), Version = 9 });

        Assert.That(changes.IsEmpty, Is.True);
        Assert.That(changes.ToJson(), Is.Null);
    }

    [Test]
    public void Diff_HashChanged_NeverRecorded()
    {
        var changes = AuditChanges.Diff(Key, Key with { Hash = "hash-new" });

        Assert.That(changes.IsEmpty, Is.True);
    }

    [Test]
    public void Snapshot_Key_EveryFieldAfterNoHash()
    {
        var snapshot = AuditChanges.Snapshot(Key with { PreviousHash = "hash-old" });

        Assert.That(snapshot, Does.Not.Contain("hash-"));
        Assert.That(JsonNode.Parse(snapshot)!["name"]!.Str("after"), Is.EqualTo("svc"));
    }
}
