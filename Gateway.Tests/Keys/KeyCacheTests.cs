using Gateway.Domain;
using Gateway.Keys;

namespace Gateway.Tests.Keys;

public sealed class KeyCacheTests
{
    private static readonly DateTimeOffset Now = new(2026, 11, 23, 12, 0, 0, TimeSpan.Zero);

    [Test]
    public void Get_PastStaleUntil_NullAndDropped()
    {
        var cache = new KeyCache(10);
        var digest = Digest(1);
        cache.Set(digest, Known(Now.AddSeconds(5)), Now);

        Assert.That(cache.Get(digest, Now.AddSeconds(4)), Is.Not.Null);
        Assert.That(cache.Get(digest, Now.AddSeconds(5)), Is.Null);
        Assert.That(cache.Count, Is.Zero);
    }

    [Test]
    public void Set_Full_DropsExpiredEntriesFirst()
    {
        var cache = new KeyCache(10);
        for (var i = 0; i < 5; i++)
        {
            cache.Set(Digest(i), Known(Now.AddSeconds(1)), Now);
        }

        for (var i = 5; i < 10; i++)
        {
            cache.Set(Digest(i), Known(Now.AddMinutes(5)), Now);
        }

        cache.Set(Digest(10), Known(Now.AddMinutes(5)), Now.AddSeconds(2));

        Assert.That(cache.Count, Is.EqualTo(6));
        Assert.That(Enumerable.Range(5, 6).Select(i => cache.Get(Digest(i), Now.AddSeconds(2))), Is.All.Not.Null);
    }

    [Test]
    public void Set_FloodOfUnknownKeys_KnownKeysStayAndCountBounded()
    {
        var cache = new KeyCache(100);
        for (var i = 0; i < 10; i++)
        {
            cache.Set(Digest(i), Known(Now.AddMinutes(5)), Now);
        }

        for (var i = 1000; i < 6000; i++)
        {
            cache.Set(Digest(i), Unknown(Now.AddSeconds(2)), Now);
            Assert.That(cache.Count, Is.LessThanOrEqualTo(100));
        }

        Assert.That(Enumerable.Range(0, 10).Select(i => cache.Get(Digest(i), Now)), Is.All.Not.Null, "made-up keys pushed out a key in use");
        Assert.That(cache.Get(Digest(5999), Now), Is.Not.Null, "the newest unknown key is remembered");
    }

    [Test]
    public void Set_FullOfKnownKeys_DropsThoseClosestToExpiring()
    {
        var cache = new KeyCache(10);
        for (var i = 0; i < 10; i++)
        {
            cache.Set(Digest(i), Known(Now.AddMinutes(1 + i)), Now);
        }

        cache.Set(Digest(10), Known(Now.AddMinutes(30)), Now);

        Assert.Multiple(() =>
        {
            Assert.That(cache.Get(Digest(0), Now), Is.Null, "closest to expiring");
            Assert.That(cache.Get(Digest(9), Now), Is.Not.Null);
            Assert.That(cache.Get(Digest(10), Now), Is.Not.Null);
            Assert.That(cache.Count, Is.EqualTo(10));
        });
    }

    [Test]
    public void Set_ConcurrentWriters_NeverMoreThanMaxEntries()
    {
        var cache = new KeyCache(500);
        var over = 0;

        Parallel.For(0, 20_000, new ParallelOptions { MaxDegreeOfParallelism = 4 }, i =>
        {
            cache.Set(Digest(i), i % 3 == 0 ? Known(Now.AddMinutes(5)) : Unknown(Now.AddSeconds(2)), Now);
            if (cache.Count > 500)
            {
                Interlocked.Increment(ref over);
            }
        });

        Assert.That(over, Is.Zero);
        Assert.That(cache.Count, Is.InRange(1, 500));
    }

    [Test]
    public void Set_SameDigestTwice_ReplacesWithoutCountingTwice()
    {
        var cache = new KeyCache(10);
        cache.Set(Digest(1), Unknown(Now.AddSeconds(2)), Now);
        var known = Known(Now.AddMinutes(5));

        cache.Set(Digest(1), known, Now);

        Assert.That(cache.Get(Digest(1), Now), Is.SameAs(known));
        Assert.That(cache.Count, Is.EqualTo(1));
    }

    [Test]
    public void KeyDigest_HexRoundTripsAndMatchesInAnyCase()
    {
        var digest = ApiKeyFormat.Digest("gw_live_example");
        var hex = ApiKeyFormat.Hash("gw_live_example");

        Assert.Multiple(() =>
        {
            Assert.That(digest.ToHex(), Is.EqualTo(hex));
            Assert.That(hex, Is.EqualTo(Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData("gw_live_example"u8))));
            Assert.That(KeyDigest.TryParseHex(hex, out var parsed) && parsed == digest, Is.True);
            Assert.That(digest.Matches(hex.ToUpperInvariant()), Is.True);
            Assert.That(digest.Matches(ApiKeyFormat.Hash("gw_live_other")), Is.False);
            Assert.That(digest.Matches(null), Is.False);
            Assert.That(KeyDigest.TryParseHex("h1", out _), Is.False);
            Assert.That(KeyDigest.TryParseHex(new string('z', 64), out _), Is.False);
        });
    }

    private static KeyDigest Digest(int i) => ApiKeyFormat.Digest("k" + i);

    private static KeyCacheEntry Known(DateTimeOffset staleUntil) => new(new ApiKeyRecord
    {
        Id = "key_1", OrgId = "acme", Name = "k", Prefix = "gw_live_aaaaaa", Hash = "h", Environment = KeyEnvironments.Production,
        Scopes = ["*"], CreatedAt = DateTimeOffset.UnixEpoch, UpdatedAt = DateTimeOffset.UnixEpoch, Version = 1,
    }, Now, Now.AddSeconds(5), staleUntil);

    private static KeyCacheEntry Unknown(DateTimeOffset until) => new(null, Now, until, until);
}
