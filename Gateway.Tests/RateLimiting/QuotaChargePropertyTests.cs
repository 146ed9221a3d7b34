using CsCheck;
using Gateway.Configuration;
using Gateway.Customers;
using Gateway.Domain;
using Gateway.RateLimiting;
using Gateway.Stores;
using Gateway.Tests.Common;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;

namespace Gateway.Tests.RateLimiting;

/// <summary>
/// All or nothing over arbitrary request scripts: a key's rate limit, its customer's quota and its credits are
/// charged together by <see cref="LimitCharger"/>, and a request refused by any of them consumes nothing of the
/// others, against an exact reference model.
/// </summary>
public sealed class QuotaChargePropertyTests
{
    [Test]
    public void Charge_ArbitraryCostsAndLimits_AdmitsExactlyWhatTheModelAdmits_RefusalsConsumeNothing()
    {
        var limits = Gen.Select(Gen.Int[1, 6], Gen.Long[1, 12], Gen.Long[0, 12]);
        var script = Gen.Int[0, 4].Array[1, 40];
        Gen.Select(limits, script).Sample((l, costs) =>
        {
            var (rate, quota, credits) = l;
            var time = new FakeTimeProvider(new DateTimeOffset(2025, 5, 31, 23, 0, 0, TimeSpan.Zero));
            var settings = new GatewayOptions();
            settings.RateLimits.Workspace = new WindowLimitOptions { PermitLimit = 1_000_000, Window = TimeSpan.FromHours(1) };
            var options = new StaticOptionsMonitor<GatewayOptions>(settings);
            var customer = new Customer("acme", "c", "C", null, null, new CustomerQuota(quota, QuotaPeriod.Month), time.GetUtcNow(), time.GetUtcNow());
            var quotas = new LocalQuotaCounter(null, new QuotaCalendarTests.RecordingEvents(), time);
            var charger = new LimitCharger(
                new LocalRateLimitCounter(time),
                quotas,
                new RateLimitPolicyResolver(options),
                new CustomerDirectory(new OneCustomer(customer), Options.Create(settings), time, new StoreResilience(Options.Create(settings), time)),
                options,
                time);
            var key = new ApiKeyRecord
            {
                Id = "key_1",
                OrgId = "acme",
                Name = "k",
                Prefix = "gw_",
                Hash = new string('a', 64),
                Environment = "production",
                Scopes = ["*"],
                CreatedAt = time.GetUtcNow(),
                UpdatedAt = time.GetUtcNow(),
                CustomerId = "c",
                RateLimit = new KeyRateLimit(rate, TimeSpan.FromHours(1)),
                Credits = new KeyCredits(credits, null, "e", time.GetUtcNow()),
            };

            long rateUsed = 0, quotaUsed = 0, creditsUsed = 0;
            foreach (var cost in costs)
            {
                var batch = new QuotaCalendarTests.TestBatch();
                batch.Add(LimitSpec.ForIp(1, 1_000_000, TimeSpan.FromHours(1)));
                var outcome = charger.ChargeAsync(batch, new CachedKey(key), null, cost, LimitSlot.AfterIp, CancellationToken.None).AsTask().GetAwaiter().GetResult();

                var expected = rateUsed >= rate ? ChargeOutcome.RateLimited
                    : quotaUsed + cost > quota ? ChargeOutcome.QuotaExceeded
                    : creditsUsed + cost > credits ? ChargeOutcome.CreditsExhausted
                    : ChargeOutcome.Allowed;
                if (expected == ChargeOutcome.QuotaExceeded && creditsUsed + cost > credits)
                {
                    // Both refused: the one that comes back later is named, and credits without refill never do.
                    expected = ChargeOutcome.CreditsExhausted;
                }

                Assert.That(outcome, Is.EqualTo(expected), $"rate {rateUsed}/{rate}, quota {quotaUsed}/{quota}, credits {creditsUsed}/{credits}, cost {cost}");
                if (outcome == ChargeOutcome.Allowed)
                {
                    rateUsed++;
                    quotaUsed += cost;
                    creditsUsed += cost;
                }
            }

            Assert.That(quotas.UsedAsync(LimitCharger.QuotaCharge(customer, customer.Quota!, key.Id, 0, time.GetUtcNow()).Partition, CancellationToken.None).Result, Is.EqualTo(quotaUsed));
            Assert.That(quotas.UsedAsync(LimitCharger.CreditsCharge(key, key.Credits!, 0, time.GetUtcNow()).Partition, CancellationToken.None).Result, Is.EqualTo(creditsUsed));
        }, iter: 300);
    }

    private sealed class OneCustomer(Customer customer) : ICustomerStore
    {
        public Task CreateAsync(Customer c, AuditEntry? audit, CancellationToken cancellationToken) => Task.CompletedTask;

        public Task<Customer?> GetAsync(string orgId, string id, CancellationToken cancellationToken) =>
            Task.FromResult<Customer?>(orgId == customer.OrgId && id == customer.Id ? customer : null);

        public Task<IReadOnlyList<Customer>> ListAsync(string orgId, CancellationToken cancellationToken) => Task.FromResult<IReadOnlyList<Customer>>([customer]);

        public Task<IReadOnlyList<Customer>> ListAfterAsync(string orgId, string? afterId, int? count, CancellationToken cancellationToken) => Task.FromResult<IReadOnlyList<Customer>>([customer]);

        public Task<bool> UpdateAsync(Customer c, AuditEntry audit, CancellationToken cancellationToken) => Task.FromResult(true);

        public Task<bool> DeleteAsync(string orgId, string id, AuditEntry audit, CancellationToken cancellationToken) => Task.FromResult(true);
    }
}
