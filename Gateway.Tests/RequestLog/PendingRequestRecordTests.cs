using CsCheck;
using Gateway.Http;
using Gateway.RequestLog;

namespace Gateway.Tests.RequestLog;

/// <summary>
/// A record handed over on the request path holds a generated request id as two words: whatever id a request had,
/// the record the store gets carries the very same string.
/// </summary>
public sealed class PendingRequestRecordTests
{
    private static readonly DateTimeOffset Now = new(2026, 12, 6, 12, 0, 0, TimeSpan.Zero);

    [TestCase("0193a1b2c3d4e5f60718293a4b5c6d7e")]
    [TestCase("0193A1B2C3D4E5F60718293A4B5C6D7E")]
    [TestCase("0193a1b2c3d4e5f60718293a4b5c6d7")]
    [TestCase("0193a1b2c3d4e5f60718293a4b5c6d7eF")]
    [TestCase("+193a1b2c3d4e5f60718293a4b5c6d7e")]
    [TestCase("0x93a1b2c3d4e5f60718293a4b5c6d7e")]
    [TestCase("client-chosen")]
    [TestCase("")]
    public void RoundTrip_AnyRequestId_TheSameRecord(string requestId)
    {
        var record = new RequestRecord(Now, requestId, "acme", "key_1", null, "GET", "/v1/a", "api", 200, null, 1.5, "203.0.113.9", 200);

        var back = PendingRequestRecord.From(record).ToRecord();

        Assert.That(back, Is.EqualTo(record));
        Assert.That(back.RequestId, Is.EqualTo(requestId));
    }

    [Test]
    public void RoundTrip_GeneratedAndArbitraryIds_TheSameString()
    {
        var ids = Gen.Frequency(
            (1, Gen.Const(0).Select(_ => RequestIds.New(Now))),
            (1, Gen.String),
            (1, Gen.Char["0123456789abcdefABCDEF"].Array[30, 34].Select(c => new string(c))));
        ids.Sample(id =>
        {
            var record = new RequestRecord(Now, id, null, null, null, "POST", "/", null, 401, "missing_key", 0, null, null);
            Assert.That(PendingRequestRecord.From(record).ToRecord().RequestId, Is.EqualTo(id));
        });
    }
}
