using CsCheck;
using Gateway.Proxy;
using Gateway.Tests.Common;
using Microsoft.AspNetCore.Http;

namespace Gateway.Tests.Proxy;

/// <summary>
/// Client copies of the stamped headers are removed in every spelling an upstream could read as the
/// same header: any letter case, '_' for '-' (docs/proxy.md, step 3).
/// </summary>
public sealed class IdentityHeaderPropertyTests
{
    private static readonly string[] Stamped = ["X-Org-Id", "X-Customer-Id", "X-Key-Id", "X-Key-Name", "X-Key-Scopes", "X-Key-Environment"];

    /// <summary>A stamped header (or any X-Key-* name) spelled with random case and '-' or '_' separators.</summary>
    private static readonly Gen<string> Spoofed = Gen.Select(
        Gen.Frequency((3, Gen.OneOfConst(Stamped)), (1, Gen.String[Gen.Char.AlphaNumeric, 1, 12].Select(s => "X-Key-" + s))),
        Gen.Bool.Array[40],
        Gen.Bool.Array[40],
        (name, upper, underscore) => new string(name.Select((c, i) => c == '-' ? (underscore[i % 40] ? '_' : '-') : upper[i % 40] ? char.ToUpperInvariant(c) : char.ToLowerInvariant(c)).ToArray()));

    /// <summary>Names that look close but are not stamped headers and must reach the upstream.</summary>
    private static readonly Gen<string> Innocent = Gen.OneOf(
        Gen.OneOfConst("X-Keyboard", "X-Org", "X-Org-Ids", "X-Customer", "X-Key", "X-Request-Id", "Accept", "X-Keys-Id", "X-Org_Name"),
        Gen.String[Gen.Char.AlphaNumeric, 1, 20].Select(s => "X-Custom-" + s));

    [Test]
    public void RemoveClientCopies_AnySpellingOfAStampedHeader_Removed()
    {
        Gen.Select(Spoofed.Array[1, 8], Innocent.Array[0, 5]).Sample((spoofed, innocent) =>
        {
            var headers = new HeaderDictionary();
            foreach (var name in spoofed.Concat(innocent))
            {
                headers.Append(name, "spoofed");
            }

            IdentityHeaders.RemoveClientCopies(headers);

            Assert.That(headers.Keys.Where(IsStamped), Is.Empty, "a spelling of a stamped header survived");
            Assert.That(innocent.All(headers.ContainsKey), Is.True, "an unrelated header was removed");
        }, iter: 3000);
    }

    [Test]
    public void RemoveReserved_AnySpellingOfAStampedHeaderOnTheUpstreamRequest_Removed()
    {
        Gen.Select(Spoofed.Array[1, 8], Innocent.Array[0, 5]).Sample((spoofed, innocent) =>
        {
            using var request = new HttpRequestMessage();
            foreach (var name in spoofed.Concat(innocent))
            {
                request.Headers.TryAddWithoutValidation(name, "spoofed");
            }

            IdentityHeaders.RemoveReserved(request.Headers);

            var left = request.Headers.NonValidated.Select(h => h.Key).ToList();
            Assert.That(left.Where(IsStamped), Is.Empty, "a spelling of a stamped header survived");
            Assert.That(innocent.All(name => left.Contains(name, StringComparer.OrdinalIgnoreCase)), Is.True, "an unrelated header was removed");
        }, iter: 3000);
    }

    [Test]
    public async Task Proxy_AnySpellingOfAStampedHeader_UpstreamSeesOnlyTheGatewaysValues()
    {
        using var upstream = Upstream.Start();
        await using var gateway = await GatewayHost.StartAsync(GatewayHost.Routes(upstream.Url, ("api", "/api/{**rest}", [])));
        await gateway.CreateOrgAsync("acme");
        var key = await gateway.CreateKeyAsync("acme", new { name = "k", customerId = "cust_1" });
        var plaintext = key.Str("key");

        await Gen.Select(Spoofed.Array[1, 6], Innocent.Array[0, 3]).SampleAsync(async (spoofed, innocent) =>
        {
            upstream.Reset();
            using var response = await gateway.CallAsync("/api/x", plaintext, request =>
            {
                foreach (var name in spoofed.Concat(innocent).Distinct(StringComparer.OrdinalIgnoreCase))
                {
                    request.Headers.TryAddWithoutValidation(name, "spoofed");
                }
            });
            Assert.That((int)response.StatusCode, Is.EqualTo(200));
            var received = upstream.Received.Single().RequestMessage.Headers!;
            Assert.That(received.Where(h => IsStamped(h.Key)).SelectMany(h => h.Value), Has.None.EqualTo("spoofed"));
            Assert.That(received.Keys.Count(k => k.Equals("X-Org-Id", StringComparison.OrdinalIgnoreCase)), Is.EqualTo(1));
            Assert.That(innocent.All(name => received.Keys.Contains(name, StringComparer.OrdinalIgnoreCase)), Is.True);
        }, iter: 100, threads: 1);
    }

    /// <summary>What an upstream could take for a stamped header: case-insensitive, '_' read as '-'.</summary>
    private static bool IsStamped(string name)
    {
        var normalized = name.Replace('_', '-');
        return Stamped.Contains(normalized, StringComparer.OrdinalIgnoreCase)
            || (normalized.Length > "X-Key-".Length && normalized.StartsWith("X-Key-", StringComparison.OrdinalIgnoreCase));
    }
}
