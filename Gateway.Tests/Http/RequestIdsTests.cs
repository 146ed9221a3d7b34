using Gateway.Http;

namespace Gateway.Tests.Http;

public sealed class RequestIdsTests
{
    [Test]
    public void New_IsAVersion7UuidOfThatMillisecond()
    {
        var now = new DateTimeOffset(2026, 11, 23, 22, 59, 1, 234, TimeSpan.Zero);

        var id = RequestIds.New(now);

        Assert.That(id, Does.Match("^[0-9a-f]{32}$"));
        var guid = Guid.ParseExact(id, "N");
        Assert.Multiple(() =>
        {
            Assert.That(guid.Version, Is.EqualTo(7));
            Assert.That(guid.Variant & 0b1100, Is.EqualTo(0b1000), "RFC 9562 variant");
            Assert.That(Convert.ToInt64(id[..12], 16), Is.EqualTo(now.ToUnixTimeMilliseconds()));
        });
    }

    [Test]
    public void New_ManyIdsInOneMillisecond_AreAllDifferent()
    {
        var now = DateTimeOffset.UtcNow;

        var ids = Enumerable.Range(0, 100_000).Select(_ => RequestIds.New(now)).ToHashSet();

        Assert.That(ids, Has.Count.EqualTo(100_000));
    }

    [Test]
    public void New_LaterMillisecond_SortsAfter()
    {
        var now = DateTimeOffset.UtcNow;

        Assert.That(string.CompareOrdinal(RequestIds.New(now.AddMilliseconds(1)), RequestIds.New(now)), Is.GreaterThan(0));
    }
}
