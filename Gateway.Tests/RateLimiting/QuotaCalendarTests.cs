using Gateway.Customers;
using Gateway.Domain;
using Gateway.RateLimiting;
using Microsoft.Extensions.Time.Testing;

namespace Gateway.Tests.RateLimiting;

/// <summary>Calendar periods in UTC at their edges, with a fake clock: month ends, a leap day, a refill at midnight.</summary>
public sealed class QuotaCalendarTests
{
    [TestCase("2024-02-29T12:00:00Z", "month", "2024-02-01T00:00:00Z", "2024-03-01T00:00:00Z", "m202402")]
    [TestCase("2024-02-29T23:59:59.999Z", "day", "2024-02-29T00:00:00Z", "2024-03-01T00:00:00Z", "d20240229")]
    [TestCase("2025-02-28T23:59:59Z", "month", "2025-02-01T00:00:00Z", "2025-03-01T00:00:00Z", "m202502")]
    [TestCase("2025-01-31T23:59:59.999Z", "month", "2025-01-01T00:00:00Z", "2025-02-01T00:00:00Z", "m202501")]
    [TestCase("2025-12-31T23:59:59Z", "month", "2025-12-01T00:00:00Z", "2026-01-01T00:00:00Z", "m202512")]
    [TestCase("2025-03-30T01:30:00+02:00", "day", "2025-03-29T00:00:00Z", "2025-03-30T00:00:00Z", "d20250329")]
    public void Periods_AtEdges_AreCalendarPeriodsInUtc(string at, string period, string start, string end, string key)
    {
        Assert.That(QuotaPeriods.TryParse(period, out var p), Is.True);
        var instant = DateTimeOffset.Parse(at, System.Globalization.CultureInfo.InvariantCulture);
        Assert.That(QuotaPeriods.Start(p, instant), Is.EqualTo(DateTimeOffset.Parse(start, System.Globalization.CultureInfo.InvariantCulture)));
        Assert.That(QuotaPeriods.End(p, instant), Is.EqualTo(DateTimeOffset.Parse(end, System.Globalization.CultureInfo.InvariantCulture)));
        Assert.That(QuotaPeriods.Key(p, instant), Is.EqualTo(key));
    }

    [Test]
    public void Periods_InstantsInAnyOrder_SameAsComputedAfresh()
    {
        // The current day and month are remembered; instants before, inside and after them, in random order,
        // must get the same answers as a computation from scratch.
        var random = new Random(20261204);
        var origin = new DateTimeOffset(2024, 1, 1, 0, 0, 0, TimeSpan.Zero);
        for (var i = 0; i < 5000; i++)
        {
            var instant = origin.AddMinutes(random.Next(0, 60 * 24 * 800));
            foreach (var period in new[] { QuotaPeriod.Day, QuotaPeriod.Month })
            {
                var utc = instant.UtcDateTime;
                var start = period == QuotaPeriod.Day ? new DateTimeOffset(utc.Date, TimeSpan.Zero) : new DateTimeOffset(utc.Year, utc.Month, 1, 0, 0, 0, TimeSpan.Zero);
                var end = period == QuotaPeriod.Day ? start.AddDays(1) : start.AddMonths(1);
                var key = period == QuotaPeriod.Day ? $"d{utc:yyyyMMdd}" : $"m{utc:yyyyMM}";
                Assert.That(QuotaPeriods.End(period, instant), Is.EqualTo(end), $"{period} {instant:O}");
                Assert.That(QuotaPeriods.Key(period, instant), Is.EqualTo(key), $"{period} {instant:O}");
            }
        }
    }

    [Test]
    public void CreditsCharge_SetInAnEarlierMonth_AllowanceIsTheRefillEveryLaterMonth()
    {
        var setAt = new DateTimeOffset(2025, 1, 20, 0, 0, 0, TimeSpan.Zero);
        var credits = new KeyCredits(7, new CreditRefill(100, QuotaPeriod.Month), "e1", setAt);
        var january = LimitCharger.CreditsCharge(Key(credits), credits, 1, setAt.AddDays(1));
        var february = LimitCharger.CreditsCharge(Key(credits), credits, 1, setAt.AddDays(15));
        var januaryAgain = LimitCharger.CreditsCharge(Key(credits), credits, 1, setAt.AddDays(2));
        Assert.Multiple(() =>
        {
            Assert.That((january.Partition, january.Limit), Is.EqualTo(("c:key_1:e1:m202501", 7L)));
            Assert.That((february.Partition, february.Limit), Is.EqualTo(("c:key_1:e1:m202502", 100L)));
            Assert.That((januaryAgain.Partition, januaryAgain.Limit), Is.EqualTo(("c:key_1:e1:m202501", 7L)));
        });
    }

    [Test]
    public async Task Quota_UsedUpOnJanuary31_RefusedUntilTheLastMillisecond_AdmittedAtFebruaryFirst()
    {
        var time = new FakeTimeProvider(new DateTimeOffset(2025, 1, 31, 23, 59, 59, 0, TimeSpan.Zero));
        var counter = new LocalQuotaCounter(null, new RecordingEvents(), time);
        var customer = new Customer("acme", "c", "C", null, null, new CustomerQuota(3, QuotaPeriod.Month), time.GetUtcNow(), time.GetUtcNow());
        for (var i = 0; i < 3; i++)
        {
            Assert.That(await ChargeQuota(counter, customer, time), Is.True);
        }

        time.Advance(TimeSpan.FromMilliseconds(999));
        var batch = QuotaBatchFor(customer, time);
        Assert.That(await counter.ChargeAsync(batch, CancellationToken.None), Is.False);
        Assert.That(batch.Quotas.Charges[0].ResetAt!.Value - time.GetUtcNow(), Is.EqualTo(TimeSpan.FromMilliseconds(1)), "Retry-After counts to the month's end");

        time.Advance(TimeSpan.FromMilliseconds(1));
        Assert.That(await ChargeQuota(counter, customer, time), Is.True, "February starts a new count");
    }

    [Test]
    public async Task Quota_LeapDay_BelongsToFebruary_MarchStartsAfresh()
    {
        var time = new FakeTimeProvider(new DateTimeOffset(2024, 2, 28, 12, 0, 0, TimeSpan.Zero));
        var counter = new LocalQuotaCounter(null, new RecordingEvents(), time);
        var customer = new Customer("acme", "c", "C", null, null, new CustomerQuota(2, QuotaPeriod.Month), time.GetUtcNow(), time.GetUtcNow());
        Assert.That(await ChargeQuota(counter, customer, time), Is.True);
        time.Advance(TimeSpan.FromDays(1)); // February 29th
        Assert.That(await ChargeQuota(counter, customer, time), Is.True);
        Assert.That(await ChargeQuota(counter, customer, time), Is.False, "Feb 29 counts in February (a 30-day month would have reset)");
        time.SetUtcNow(new DateTimeOffset(2024, 3, 1, 0, 0, 0, TimeSpan.Zero));
        Assert.That(await ChargeQuota(counter, customer, time), Is.True);
    }

    [Test]
    public async Task Credits_DailyRefill_AtMidnightUtc_BalanceBecomesTheRefillAmount_ExhaustedReportedOncePerCrossing()
    {
        var time = new FakeTimeProvider(new DateTimeOffset(2025, 6, 30, 23, 0, 0, TimeSpan.Zero));
        var events = new RecordingEvents();
        var counter = new LocalQuotaCounter(null, events, time);
        var key = Key(new KeyCredits(2, new CreditRefill(5, QuotaPeriod.Day), "e1", time.GetUtcNow()));

        Assert.That(await ChargeCredits(counter, key, time, cost: 2), Is.True);
        Assert.That(await ChargeCredits(counter, key, time, cost: 1), Is.False);
        Assert.That(await ChargeCredits(counter, key, time, cost: 1), Is.False);
        Assert.That(events.Exhausted, Is.EqualTo(1), "reported once, when the balance reached zero, not per refused request");

        time.SetUtcNow(new DateTimeOffset(2025, 6, 30, 23, 59, 59, 999, TimeSpan.Zero));
        Assert.That(await ChargeCredits(counter, key, time, cost: 1), Is.False);
        time.Advance(TimeSpan.FromMilliseconds(1)); // midnight UTC, July 1st
        for (var i = 0; i < 5; i++)
        {
            Assert.That(await ChargeCredits(counter, key, time, cost: 1), Is.True, $"refilled to 5 (request {i})");
        }

        Assert.That(await ChargeCredits(counter, key, time, cost: 1), Is.False);
        Assert.That(events.Exhausted, Is.EqualTo(2));
    }

    [Test]
    public async Task Quota_Thresholds_ReportedOnceAt80And100Percent()
    {
        var time = new FakeTimeProvider(new DateTimeOffset(2025, 6, 1, 0, 0, 0, TimeSpan.Zero));
        var events = new RecordingEvents();
        var counter = new LocalQuotaCounter(null, events, time);
        var customer = new Customer("acme", "c", "C", null, null, new CustomerQuota(10, QuotaPeriod.Day), time.GetUtcNow(), time.GetUtcNow());
        for (var i = 0; i < 14; i++)
        {
            await ChargeQuota(counter, customer, time);
        }

        Assert.That(events.Thresholds, Is.EqualTo(new[] { 80, 100 }));
    }

    [Test]
    public async Task Quota_RaisedWithinThePeriod_ThresholdsOfTheNewLimitReportedAgain_ANewPeriodStartsAfresh()
    {
        var time = new FakeTimeProvider(new DateTimeOffset(2025, 6, 1, 0, 0, 0, TimeSpan.Zero));
        var events = new RecordingEvents();
        var counter = new LocalQuotaCounter(null, events, time);
        var customer = new Customer("acme", "c", "C", null, null, new CustomerQuota(10, QuotaPeriod.Day), time.GetUtcNow(), time.GetUtcNow());
        for (var i = 0; i < 12; i++)
        {
            await ChargeQuota(counter, customer, time);
        }

        // Raised to 20 with 10 used: the same counter (named by customer and period), crossed again at 16 and 20.
        var raised = customer with { Quota = new CustomerQuota(20, QuotaPeriod.Day) };
        var admitted = 0;
        for (var i = 0; i < 12; i++)
        {
            admitted += await ChargeQuota(counter, raised, time) ? 1 : 0;
        }

        Assert.That(admitted, Is.EqualTo(10));
        Assert.That(events.Thresholds, Is.EqualTo(new[] { 80, 100, 80, 100 }));

        time.Advance(TimeSpan.FromDays(1));
        for (var i = 0; i < 16; i++)
        {
            await ChargeQuota(counter, raised, time);
        }

        Assert.That(events.Thresholds, Is.EqualTo(new[] { 80, 100, 80, 100, 80 }), "a new day counts from zero");
    }

    private static ApiKeyRecord Key(KeyCredits credits) => new()
    {
        Id = "key_1",
        OrgId = "acme",
        Name = "k",
        Prefix = "gw_",
        Hash = new string('a', 64),
        Environment = "production",
        Scopes = ["*"],
        CreatedAt = DateTimeOffset.UnixEpoch,
        UpdatedAt = DateTimeOffset.UnixEpoch,
        Credits = credits,
    };

    private static TestBatch QuotaBatchFor(Customer customer, TimeProvider time)
    {
        var batch = new TestBatch();
        batch.Quotas.Add(LimitCharger.QuotaCharge(customer, customer.Quota!, null, 1, time.GetUtcNow()));
        return batch;
    }

    private static async Task<bool> ChargeQuota(LocalQuotaCounter counter, Customer customer, TimeProvider time) =>
        await counter.ChargeAsync(QuotaBatchFor(customer, time), CancellationToken.None);

    private static async Task<bool> ChargeCredits(LocalQuotaCounter counter, ApiKeyRecord key, TimeProvider time, int cost)
    {
        var batch = new TestBatch();
        batch.Quotas.Add(LimitCharger.CreditsCharge(key, key.Credits!, cost, time.GetUtcNow()));
        return await counter.ChargeAsync(batch, CancellationToken.None);
    }

    internal sealed class TestBatch : LimitBatch;

    internal sealed class RecordingEvents : IQuotaEvents
    {
        public List<int> Thresholds { get; } = [];

        public int Exhausted { get; private set; }

        public void ThresholdReached(string org, string? customerId, string? keyId, int percent) => Thresholds.Add(percent);

        public void CreditsExhausted(string org, string keyId) => Exhausted++;
    }
}
