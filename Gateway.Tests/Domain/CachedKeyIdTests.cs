using CsCheck;
using Gateway.Domain;
using Gateway.Keys;

namespace Gateway.Tests.Domain;

/// <summary>
/// The id a cached key gives back is the stored id, whether it was packed into two numbers (the gateway's own
/// "key_" and 20 base62 characters) or kept as text (any other form), and a key in use hands out one string.
/// </summary>
public sealed class CachedKeyIdTests
{
    private static readonly Gen<string> Base62Chars = Gen.Char[Base62.Alphabet].Array[20].Select(c => new string(c));

    [Test]
    public void Id_MadeByTheGateway_IsTheStoredId() =>
        Base62Chars.Select(digits => "key_" + digits).Sample(id =>
        {
            Assert.That(PackedKeyId.TryPack(id, out _), Is.True, id);
            Assert.That(Key(id).Id, Is.EqualTo(id));
        }, iter: 2000);

    [TestCase("key_00000000000000000000")]
    [TestCase("key_zzzzzzzzzzzzzzzzzzzz")]
    [TestCase("key_0000000000zzzzzzzzzz")]
    [TestCase("key_zzzzzzzzzz0000000000")]
    public void Id_AtTheEndsOfTheRange_IsTheStoredId(string id)
    {
        Assert.That(PackedKeyId.TryPack(id, out _), Is.True);
        Assert.That(Key(id).Id, Is.EqualTo(id));
    }

    [TestCase("key_1")]
    [TestCase("legacy-0001")]
    [TestCase("")]
    [TestCase("key_0000000000000000000")]
    [TestCase("key_000000000000000000000")]
    [TestCase("KEY_00000000000000000000")]
    [TestCase("key-00000000000000000000")]
    [TestCase("key_0000000000-000000000")]
    [TestCase("key_000000000é0000000000")]
    [TestCase("key_0000000000000000000\u0661")]
    public void Id_OfAnotherForm_IsKeptAsGiven(string id)
    {
        Assert.That(PackedKeyId.TryPack(id, out _), Is.False);
        var key = Key(id);
        var first = key.Id;
        Assert.That(key.Id, Is.SameAs(first));
        Assert.That(first, Is.EqualTo(id));
    }

    [Test]
    public void Id_OfAnyString_IsTheStoredId() =>
        Gen.Frequency((1, Gen.String), (1, Base62Chars.Select(d => "key_" + d)), (1, Gen.String[Gen.Char.AlphaNumeric, 20, 20].Select(d => "key_" + d)))
            .Sample(id => Assert.That(Key(id).Id, Is.EqualTo(id)), iter: 2000);

    [TestCase(true)]
    [TestCase(false)]
    public void Id_OfManyKeysAlikeInOneHalf_EachItsOwn(bool sameFirstHalf)
    {
        // 20,000 ids that differ in one half only: some share a slot of the recent strings with the first.
        var keys = Enumerable.Range(0, 20_000).Select(i => Key(Id(sameFirstHalf, (ulong)i))).ToArray();
        var first = Id(sameFirstHalf, 0);
        for (var i = 0; i < keys.Length; i++)
        {
            Assert.That(keys[0].Id, Is.EqualTo(first));
            Assert.That(keys[i].Id, Is.EqualTo(Id(sameFirstHalf, (ulong)i)));
        }

        static string Id(bool sameFirstHalf, ulong varying)
        {
            Span<char> digits = stackalloc char[20];
            digits.Fill('7');
            Base62.EncodeFixed(varying, sameFirstHalf ? digits[10..] : digits[..10]);
            return "key_" + new string(digits);
        }
    }

    [Test]
    public void Id_AskedForTwice_IsOneString()
    {
        // Usage counting's per-thread shortcut compares the id by reference: a key in use must hand out one string.
        var key = Key("key_" + Base62.Random(20));
        var first = key.Id;
        Assert.That(key.Id, Is.SameAs(first));
    }

    [Test]
    public void Id_WhenTheKeyHasRareFields_IsStillTheStoredId()
    {
        var id = "key_" + Base62.Random(20);
        var key = new CachedKey(Record(id) with { CustomerId = "cus_1" });
        Assert.Multiple(() =>
        {
            Assert.That(key.Id, Is.EqualTo(id));
            Assert.That(key.CustomerId, Is.EqualTo("cus_1"));
        });
    }

    private static CachedKey Key(string id) => new(Record(id));

    private static ApiKeyRecord Record(string id) => new()
    {
        Id = id, OrgId = "acme", Name = "k", Prefix = "gw_live_aaaaaa", Hash = "h", Environment = KeyEnvironments.Production,
        Scopes = ["*"], CreatedAt = DateTimeOffset.UnixEpoch, UpdatedAt = DateTimeOffset.UnixEpoch, Version = 1,
    };
}
