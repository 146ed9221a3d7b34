using Gateway.Signing;
using Gateway.Verification;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;

namespace Gateway.Tests.Signing;

/// <summary>
/// The signer keeps a keyed MAC per thread: a signature must always be the one the verifier's one-shot
/// computation gives for the secret in force, also after a configuration reload changes the secret.
/// </summary>
public sealed class IdentitySignerTests
{
    private static readonly Dictionary<string, string> Headers = new(StringComparer.OrdinalIgnoreCase)
    {
        ["X-Org-Id"] = "acme",
        ["X-Key-Id"] = "key_1",
        ["X-Request-Id"] = "r-1",
    };

    [Test]
    public void Sign_SecretChangesOnReload_EachSignatureIsTheSecretInForce()
    {
        var time = new FakeTimeProvider(DateTimeOffset.FromUnixTimeSeconds(1_700_000_000));
        var options = new ChangingOptions(Options("old", "old-secret-0123456789abcdefghijklmnop"));
        var signer = new IdentitySigner(options, time);

        var first = Sign(signer);
        options.CurrentValue = Options("new", "new-secret-0123456789abcdefghijklmnop");
        var second = Sign(signer);
        options.CurrentValue = Options("old", "old-secret-0123456789abcdefghijklmnop");
        var third = Sign(signer);

        var canonical = GatewaySignature.CanonicalString(1_700_000_000, "GET", "/api/x?a=1", name => Headers.GetValueOrDefault(name));
        Assert.Multiple(() =>
        {
            Assert.That(first, Is.EqualTo($"t=1700000000,kid=old,v1={GatewaySignature.Compute("old-secret-0123456789abcdefghijklmnop", canonical)}"));
            Assert.That(second, Is.EqualTo($"t=1700000000,kid=new,v1={GatewaySignature.Compute("new-secret-0123456789abcdefghijklmnop", canonical)}"));
            Assert.That(third, Is.EqualTo(first));
        });
    }

    [Test]
    public void Sign_LongCanonicalString_SameAsTheOneShotMac()
    {
        var signer = new IdentitySigner(new ChangingOptions(Options("k", "secret-0123456789abcdefghijklmnop")), new FakeTimeProvider(DateTimeOffset.FromUnixTimeSeconds(5)));
        var path = "/api/" + new string('é', 3000);
        var signature = signer.Sign(signer.Current()!, "POST", path, name => Headers.GetValueOrDefault(name), v2: null);
        var canonical = GatewaySignature.CanonicalString(5, "POST", path, name => Headers.GetValueOrDefault(name));
        Assert.That(signature, Is.EqualTo($"t=5,kid=k,v1={GatewaySignature.Compute("secret-0123456789abcdefghijklmnop", canonical)}"));
    }

    private static string Sign(IdentitySigner signer) =>
        signer.Sign(signer.Current()!, "GET", "/api/x?a=1", name => Headers.GetValueOrDefault(name), v2: null);

    private static SigningOptions Options(string id, string secret) => new() { Secrets = [new SigningSecret { Id = id, Secret = secret }] };

    private sealed class ChangingOptions(SigningOptions value) : IOptionsMonitor<SigningOptions>
    {
        public SigningOptions CurrentValue { get; set; } = value;

        public SigningOptions Get(string? name) => CurrentValue;

        public IDisposable? OnChange(Action<SigningOptions, string?> listener) => null;
    }
}
