using System.Net;
using CsCheck;
using Gateway.Http;
using Gateway.Keys;
using Gateway.Tests.Common;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Primitives;

namespace Gateway.Tests.Keys;

/// <summary>
/// Properties over generated inputs: parsing never throws, and no string that was not issued is ever
/// accepted, checked through the format check and the resolver in front of a real (SQLite) store, and
/// end to end through the proxy.
/// </summary>
[NonParallelizable]
public sealed class ApiKeyPropertyTests : GatewayFixture
{
    private HashSet<string> _issued = null!;
    private string[] _issuedList = null!;
    private List<string> _live = null!;

    [OneTimeSetUp]
    public async Task StartAsync()
    {
        var org = await Host.CreateOrgAsync("acme");
        _issued = [org.DefaultKey()];
        _live = [.. _issued];
        foreach (var environment in new[] { "production", "staging", "development" })
        {
            var key = await Host.CreateKeyAsync("acme", new { name = "k_" + environment, environment });
            _issued.Add(key.Str("key"));

            // A rotation issues a second key; both were issued (the old one answers key_revoked or
            // works during a grace period, but it is never "unknown").
            var rotated = (await Host.AdminPostAsync($"admin/keys/{key.Str("id")}/rotate")).Str("key");
            _issued.Add(rotated);
            _live.Add(rotated);
        }

        _issuedList = [.. _issued];
    }

    /// <summary>Arbitrary text, long text, well-formed keys nobody issued, and near misses of issued keys.</summary>
    private Gen<string> Candidates => Gen.Frequency(
        (3, Gen.String),
        (1, Gen.String[Gen.Char, 50, 400]),
        (2, Gen.String[Gen.Char["gw_livetsdv0123456789ABCabcxyzXYZ-."], 0, 60]),
        (3, Gen.Select(Gen.OneOfConst("gw", "sk", "a1", "abcdefghij"), Gen.OneOfConst("production", "staging", "development"), (prefix, environment) => ApiKeyFormat.Generate(prefix, environment))),
        (3, Gen.Select(Gen.Int[0, _issuedList.Length - 1], Gen.Int[0, 100], Gen.Char, Gen.Int[0, 5], (i, position, c, how) => Mutate(_issuedList[i], position, c, how))));

    [Test]
    public void TryParse_AnyString_NeverThrows()
    {
        Candidates.Sample(s =>
        {
            var wellFormed = ApiKeyFormat.IsWellFormed(s);
            Assert.That(ApiKeyFormat.TryParse(s, out var parsed), Is.EqualTo(wellFormed));
            if (wellFormed)
            {
                Assert.That(ApiKeyFormat.Hash(s), Has.Length.EqualTo(64));
                Assert.That(s, Does.StartWith(parsed.DisplayPrefix));
            }

            foreach (var header in new[] { s, "Bearer " + s, "bearer  " + s })
            {
                var result = BearerToken.TryParse(new StringValues(header), out var token);
                if (result == BearerParseResult.Ok)
                {
                    _ = ApiKeyFormat.IsWellFormed(token);
                }
            }
        }, iter: 5000);
    }

    [Test]
    public void ResolveAsync_StringNeverIssued_Refused()
    {
        var resolver = Host.Services.GetRequiredService<KeyResolver>();
        Candidates.Where(s => !_issued.Contains(s)).Sample(s =>
        {
            if (!ApiKeyFormat.IsWellFormed(s))
            {
                return;
            }

            var record = resolver.ResolveAsync(ApiKeyFormat.Digest(s), CancellationToken.None).AsTask().GetAwaiter().GetResult();
            Assert.That(record, Is.Null, $"'{s}' was never issued but resolved to {record?.Id}");
        }, iter: 2000, threads: 1);

        // The property holds for the right reason: every live key does resolve.
        foreach (var key in _live)
        {
            Assert.That(resolver.ResolveAsync(ApiKeyFormat.Digest(key), CancellationToken.None).AsTask().GetAwaiter().GetResult(), Is.Not.Null);
        }
    }

    [Test]
    public void Proxy_StringNeverIssued_401AndNothingForwarded()
    {
        Upstream.Reset();
        var printable = Candidates.Select(s => new string(s.Where(c => c is > ' ' and <= '~').ToArray()));
        printable.Where(s => s.Length > 0 && !_issued.Contains(s)).Sample(s =>
        {
            using var response = Host.CallAsync("/api/x", s).GetAwaiter().GetResult();
            Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.Unauthorized), s);
        }, iter: 300, threads: 1);

        Assert.That(Upstream.Received, Is.Empty);
    }

    private static string Mutate(string key, int position, char c, int how)
    {
        var at = position % key.Length;
        return how switch
        {
            0 => string.Concat(key.AsSpan(0, at), c.ToString(), key.AsSpan(at + 1)),
            1 => key.Remove(at, 1),
            2 => key.Insert(at, c.ToString()),
            3 => string.Concat(key.AsSpan(0, at), char.IsUpper(key[at]) ? char.ToLowerInvariant(key[at]).ToString() : char.ToUpperInvariant(key[at]).ToString(), key.AsSpan(at + 1)),
            4 => key + c,
            _ => key[..at],
        };
    }
}
