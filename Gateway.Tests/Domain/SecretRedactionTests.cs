using CsCheck;
using Gateway.Admin;
using Gateway.Configuration;
using Gateway.Domain;
using Gateway.Keys;
using Gateway.Operators;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace Gateway.Tests.Domain;

/// <summary>
/// Keys and admin tokens in client-chosen text lose their secret characters and keep their place and kind; text
/// without them comes back as the same string.
/// </summary>
public sealed class SecretRedactionTests
{
    private static readonly string[] Prefixes = ["gw", "a1", "acmecorp99"];

    [Test]
    public void Key_AnyPrefixAndEnvironment_KeepsPrefixAndTagOnly()
    {
        foreach (var prefix in Prefixes)
        {
            foreach (var environment in KeyEnvironments.All)
            {
                var key = ApiKeyFormat.Generate(prefix, environment);
                var kind = $"{prefix}_{KeyEnvironments.ToTag(environment)}_";

                Assert.That(SecretRedaction.Redact($"/api/{key}/x"), Is.EqualTo($"/api/{kind}[redacted]/x"));
                Assert.That(SecretRedaction.Redact(key), Is.EqualTo($"{kind}[redacted]"));
                Assert.That(SecretRedaction.Redact($"/v1/key={key}"), Is.EqualTo($"/v1/key={kind}[redacted]"));
            }
        }
    }

    [Test]
    public void SeveralKeysAndTokens_EachRedacted()
    {
        var a = ApiKeyFormat.Generate("gw", KeyEnvironments.Production);
        var b = ApiKeyFormat.Generate("gw", KeyEnvironments.Staging);
        var token = OperatorTokenFormat.NewToken();

        Assert.That(
            SecretRedaction.Redact($"/{a}{b}/{token}{a}/x"),
            Is.EqualTo("/gw_live_[redacted]gw_stage_[redacted]/gwa_[redacted]gw_live_[redacted]/x"),
            "pasted together, each one is still found");
    }

    [Test]
    public void KeyWithATypo_StillRedacted()
    {
        var key = ApiKeyFormat.Generate("gw", KeyEnvironments.Production);
        var typo = key[..^1] + (key[^1] == 'a' ? 'b' : 'a');
        Assert.That(ApiKeyFormat.IsWellFormed(typo), Is.False);

        Assert.That(SecretRedaction.Redact($"/api/{typo}"), Is.EqualTo("/api/gw_live_[redacted]"), "a key with a typo is still most of a key");
    }

    [Test]
    public void AdminTokensTheGatewayMakes_Redacted()
    {
        var directory = Path.Combine(Path.GetTempPath(), "gw-tests", Guid.NewGuid().ToString("N"));
        var bootstrap = new AdminToken(Options.Create(new GatewayOptions { Store = { Path = Path.Combine(directory, "gateway.db") } }), NullLogger<AdminToken>.Instance).Value;
        var operatorToken = OperatorTokenFormat.NewToken();

        Assert.That(SecretRedaction.Redact($"/admin/x/{bootstrap}"), Is.EqualTo($"/admin/x/{bootstrap[..4]}[redacted]"));
        Assert.That(SecretRedaction.Redact($"/admin/x/{operatorToken}"), Is.EqualTo("/admin/x/gwa_[redacted]"));
        Directory.Delete(directory, recursive: true);
    }

    [TestCase("/api/items/42")]
    [TestCase("/")]
    [TestCase("")]
    [TestCase("/api/user_dev_tools/gwa_short/adm_")]
    [TestCase("/api/_live_0123456789012345678901234567890123456789")]
    [TestCase("/api/gw_live_0123456789ABCDEFGHIJ0123456789abcdef1")]
    public void NoKeyOrToken_SameString(string text)
    {
        // The request log redacts every path it records: without a key nothing is copied.
        Assert.That(SecretRedaction.Redact(text), Is.SameAs(text));
    }

    [Test]
    public void KeyAnywhereInRandomText_NoneOfItsRandomPartLeft()
    {
        var filler = Gen.Char["abcxyz019AZ_/-.=?%"].Array[0, 24].Select(c => new string(c));
        Gen.Select(filler, filler, Gen.OneOfConst([.. KeyEnvironments.All]), Gen.OneOfConst(Prefixes)).Sample((before, after, environment, prefix) =>
        {
            var key = ApiKeyFormat.Generate(prefix, environment);
            var redacted = SecretRedaction.Redact(before + key + after);

            Assert.That(redacted, Does.Not.Contain(key[^38..^6]));
            Assert.That(redacted, Does.Contain($"{prefix}_{KeyEnvironments.ToTag(environment)}_[redacted]"));
        });
    }
}
