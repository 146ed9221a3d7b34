using Gateway.Configuration;
using Gateway.Domain;
using Gateway.Keys;

namespace Gateway.Tests.Keys;

public sealed class KeyCacheTests
{
    private static readonly DateTimeOffset Now = new(2026, 11, 23, 12, 0, 0, TimeSpan.Zero);

    [Test]
    public void TryGet_PastStaleFor_FalseAndDropped()
    {
        var cache = Cache(10, staleFor: TimeSpan.FromSeconds(5));
        var digest = Digest(1);
        cache.Set(digest, Known(Now), Now);

        Assert.That(cache.TryGet(digest, Now.AddSeconds(4), out _), Is.True);
        Assert.That(cache.TryGet(digest, Now.AddSeconds(5), out _), Is.False);
        Assert.That(cache.Count, Is.Zero);
    }

    [Test]
    public void IsFresh_KnownForFreshForUnknownForNegativeFor()
    {
        var cache = Cache(10);

        Assert.Multiple(() =>
        {
            Assert.That(cache.IsFresh(Known(Now), Now.AddSeconds(4.9)), Is.True);
            Assert.That(cache.IsFresh(Known(Now), Now.AddSeconds(5)), Is.False);
            Assert.That(cache.IsFresh(Unknown(Now), Now.AddSeconds(1.9)), Is.True);
            Assert.That(cache.IsFresh(Unknown(Now), Now.AddSeconds(2)), Is.False);
        });
    }

    [Test]
    public void Set_Full_DropsExpiredEntriesFirst()
    {
        var cache = Cache(10);
        for (var i = 0; i < 5; i++)
        {
            cache.Set(Digest(i), Known(Now - StaleFor + TimeSpan.FromSeconds(1)), Now);
        }

        for (var i = 5; i < 10; i++)
        {
            cache.Set(Digest(i), Known(Now), Now);
        }

        cache.Set(Digest(10), Known(Now.AddSeconds(2)), Now.AddSeconds(2));

        Assert.That(cache.Count, Is.EqualTo(6));
        Assert.That(Enumerable.Range(5, 6).Select(i => cache.TryGet(Digest(i), Now.AddSeconds(2), out _)), Is.All.True);
    }

    [Test]
    public void Set_FloodOfUnknownKeys_KnownKeysStayAndCountBounded()
    {
        var cache = Cache(100);
        for (var i = 0; i < 10; i++)
        {
            cache.Set(Digest(i), Known(Now), Now);
        }

        for (var i = 1000; i < 6000; i++)
        {
            cache.Set(Digest(i), Unknown(Now), Now);
            Assert.That(cache.Count, Is.LessThanOrEqualTo(100));
        }

        Assert.That(Enumerable.Range(0, 10).Select(i => cache.TryGet(Digest(i), Now, out _)), Is.All.True, "made-up keys pushed out a key in use");
        Assert.That(cache.TryGet(Digest(5999), Now, out _), Is.True, "the newest unknown key is remembered");
    }

    [Test]
    public void Set_FullOfKnownKeys_DropsThoseClosestToExpiring()
    {
        var cache = Cache(10);
        for (var i = 0; i < 10; i++)
        {
            cache.Set(Digest(i), Known(Now - StaleFor + TimeSpan.FromMinutes(1 + i)), Now);
        }

        cache.Set(Digest(10), Known(Now), Now);

        Assert.Multiple(() =>
        {
            Assert.That(cache.TryGet(Digest(0), Now, out _), Is.False, "closest to expiring");
            Assert.That(cache.TryGet(Digest(9), Now, out _), Is.True);
            Assert.That(cache.TryGet(Digest(10), Now, out _), Is.True);
            Assert.That(cache.Count, Is.EqualTo(10));
        });
    }

    [Test]
    public void Set_ConcurrentWriters_NeverMoreThanMaxEntries()
    {
        var cache = Cache(500);
        var over = 0;

        Parallel.For(0, 20_000, new ParallelOptions { MaxDegreeOfParallelism = 4 }, i =>
        {
            cache.Set(Digest(i), i % 3 == 0 ? Known(Now) : Unknown(Now), Now);
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
        var cache = Cache(10);
        cache.Set(Digest(1), Unknown(Now), Now);
        var known = Known(Now);

        cache.Set(Digest(1), known, Now);

        Assert.That(cache.TryGet(Digest(1), Now, out var entry) ? entry.Key : null, Is.SameAs(known.Key));
        Assert.That(cache.Count, Is.EqualTo(1));
    }

    [Test]
    public void Share_EqualProfiles_OneInstanceAndBounded()
    {
        var profiles = new KeyProfiles(maxCount: 3);
        var first = profiles.Share(new KeyProfile(Record("acme", "read write")));

        Assert.Multiple(() =>
        {
            Assert.That(profiles.Share(new KeyProfile(Record("acme", "read write"))), Is.SameAs(first), "same organization and scopes");
            Assert.That(profiles.Share(new KeyProfile(Record("acme", "read"))), Is.Not.SameAs(first), "other scopes");
            Assert.That(profiles.Share(new KeyProfile(Record("globex", "read write"))), Is.Not.SameAs(first), "other organization");
            Assert.That(profiles.Share(new KeyProfile(Record("acme", "read write") with { State = KeyState.Revoked })), Is.Not.SameAs(first), "other state");
        });

        for (var i = 0; i < 50; i++)
        {
            profiles.Share(new KeyProfile(Record("org" + i, "read")));
            Assert.That(profiles.Count, Is.LessThanOrEqualTo(3));
        }
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

    private static readonly TimeSpan StaleFor = TimeSpan.FromMinutes(30);

    private static KeyCache Cache(int maxEntries, TimeSpan? staleFor = null) => new(new CacheOptions
    {
        MaxEntries = maxEntries, FreshFor = TimeSpan.FromSeconds(5), StaleFor = staleFor ?? StaleFor, NegativeFor = TimeSpan.FromSeconds(2),
    });

    private static KeyDigest Digest(int i) => ApiKeyFormat.Digest("k" + i);

    // Built from new strings each time, as two store reads would give them.
    private static ApiKeyRecord Record(string org, string scopes) => new()
    {
        Id = "key_" + Guid.NewGuid().ToString("N"), OrgId = new string(org.AsSpan()), Name = "k", Prefix = "gw_live_aaaaaa", Hash = "h",
        Environment = new string(KeyEnvironments.Production.AsSpan()), Scopes = scopes.Split(' '), CreatedAt = DateTimeOffset.UnixEpoch,
        UpdatedAt = DateTimeOffset.UnixEpoch, Version = 1,
    };

    private static KeyCacheEntry Known(DateTimeOffset loadedAt) => new(new CachedKey(Record("acme", "*")), loadedAt.UtcTicks);

    private static KeyCacheEntry Unknown(DateTimeOffset loadedAt) => new(null, loadedAt.UtcTicks);
}
