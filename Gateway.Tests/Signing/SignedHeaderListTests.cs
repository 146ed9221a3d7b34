using Gateway.Domain;
using Gateway.Http;
using Gateway.Proxy;
using Gateway.Verification;

namespace Gateway.Tests.Signing;

/// <summary>
/// The identity headers the proxy stamps and the headers the signature covers are one list
/// (<see cref="GatewaySignature.SignedHeaders"/>): a header stamped but not signed could be forged by anyone
/// who reaches the upstream directly.
/// </summary>
public sealed class SignedHeaderListTests
{
    [Test]
    public void Stamp_KeyWithEveryField_SetsExactlyTheSignedHeadersBesidesTheRequestId()
    {
        using var request = new HttpRequestMessage();
        IdentityHeaders.Stamp(request.Headers, new CachedKey(FullKey()));
        IdentityHeaders.Set(request.Headers, RequestIdMiddleware.HeaderName, "req-1");

        var stamped = request.Headers.Select(h => h.Key);
        Assert.That(stamped, Is.EquivalentTo(GatewaySignature.SignedHeaders).Using((IEqualityComparer<string>)StringComparer.OrdinalIgnoreCase));
    }

    [Test]
    public void RemoveReserved_EverySignedIdentityHeader_IsReservedForTheGateway()
    {
        using var request = new HttpRequestMessage();
        foreach (var name in GatewaySignature.SignedHeaders.Where(n => !string.Equals(n, RequestIdMiddleware.HeaderName, StringComparison.OrdinalIgnoreCase)))
        {
            request.Headers.TryAddWithoutValidation(name, "forged");
        }

        IdentityHeaders.RemoveReserved(request.Headers);

        Assert.That(request.Headers.Select(h => h.Key), Is.Empty);
    }

    private static ApiKeyRecord FullKey() => new()
    {
        Id = "key_1",
        OrgId = "acme",
        Name = "ci",
        Prefix = "gw_live_abcd",
        Hash = new string('a', 64),
        Environment = KeyEnvironments.Production,
        Scopes = ["read"],
        CustomerId = "cust-1",
        CreatedAt = DateTimeOffset.UnixEpoch,
        UpdatedAt = DateTimeOffset.UnixEpoch,
    };
}
