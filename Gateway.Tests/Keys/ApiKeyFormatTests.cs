using Gateway.Keys;

namespace Gateway.Tests.Keys;

public sealed class ApiKeyFormatTests
{
    [TestCase("production", "gw_live_")]
    [TestCase("staging", "gw_stage_")]
    [TestCase("development", "gw_dev_")]
    public void Generate_Environment_HasTagAndParsesBack(string environment, string start)
    {
        var key = ApiKeyFormat.Generate("gw", environment);

        Assert.That(key, Does.StartWith(start));
        Assert.That(key, Has.Length.EqualTo(start.Length + 38));
        Assert.That(ApiKeyFormat.TryParse(key, out var parsed), Is.True);
        Assert.That(ApiKeyFormat.IsWellFormed(key), Is.True);
        Assert.That(parsed.Environment, Is.EqualTo(environment));
        Assert.That(parsed.DisplayPrefix, Is.EqualTo(key[..(start.Length + 6)]));
    }

    [Test]
    public void Generate_ManyKeys_AreDistinctAndBase62()
    {
        var keys = Enumerable.Range(0, 2000).Select(_ => ApiKeyFormat.Generate("gw", "production")).ToList();

        Assert.That(keys.Distinct().Count(), Is.EqualTo(keys.Count));
        Assert.That(keys.All(k => k["gw_live_".Length..].All(char.IsAsciiLetterOrDigit)), Is.True);
    }

    [Test]
    public void Generate_CheckIsZeroPaddedCrc32OfBody()
    {
        var key = ApiKeyFormat.Generate("acme", "production");
        var body = key[..^6];
        var crc = System.IO.Hashing.Crc32.HashToUInt32(System.Text.Encoding.ASCII.GetBytes(body));
        var expected = new char[6];
        ulong value = crc;
        for (var i = 5; i >= 0; i--)
        {
            expected[i] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"[(int)(value % 62)];
            value /= 62;
        }

        Assert.That(key[^6..], Is.EqualTo(new string(expected)));
    }

    [Test]
    public void Hash_IsLowerHexSha256_AndNeverTheKey()
    {
        var key = ApiKeyFormat.Generate("gw", "production");
        var hash = ApiKeyFormat.Hash(key);

        Assert.That(hash, Is.EqualTo(Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.ASCII.GetBytes(key)))));
        Assert.That(hash, Does.Not.Contain(key[8..20]));
    }

    [Test]
    public void TryParse_EveryOneCharacterMutation_IsRejected()
    {
        var key = ApiKeyFormat.Generate("gw", "production");
        var alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_-. ";
        var accepted = new List<string>();
        var tried = 0;
        for (var i = 0; i < key.Length; i++)
        {
            foreach (var c in alphabet)
            {
                if (c == key[i])
                {
                    continue;
                }

                var mutated = key[..i] + c + key[(i + 1)..];
                tried++;
                if (ApiKeyFormat.TryParse(mutated, out _) || ApiKeyFormat.IsWellFormed(mutated))
                {
                    accepted.Add(mutated);
                }
            }
        }

        Assert.That(tried, Is.GreaterThan(2500));
        Assert.That(accepted, Is.Empty);
    }

    [TestCase("")]
    [TestCase("gw")]
    [TestCase("gw_live_")]
    [TestCase("gw_prod_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa")]
    [TestCase("GW_live_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa")]
    [TestCase("g_live_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa")]
    [TestCase("gw_live_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa")]
    [TestCase("gw_live_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa")]
    [TestCase("gw_live_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa!")]
    public void TryParse_Malformed_IsRejected(string key) =>
        Assert.That(ApiKeyFormat.TryParse(key, out _), Is.False);

    [Test]
    public void TryParse_Truncated_IsRejected()
    {
        var key = ApiKeyFormat.Generate("gw", "staging");
        for (var length = 0; length < key.Length; length++)
        {
            Assert.That(ApiKeyFormat.TryParse(key[..length], out _), Is.False, $"prefix of length {length}");
        }
    }
}
