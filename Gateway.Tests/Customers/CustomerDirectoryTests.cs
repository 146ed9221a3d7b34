using Gateway.Configuration;
using Gateway.Customers;
using Gateway.Domain;
using Gateway.Stores;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;

namespace Gateway.Tests.Customers;

/// <summary>The request path's customer cache follows the key cache's rules: fresh, then read, stale only while the store is down.</summary>
public sealed class CustomerDirectoryTests
{
    private static readonly Customer Acme = new("acme", "c", "C", null, null, new CustomerQuota(10, QuotaPeriod.Day), DateTimeOffset.UnixEpoch, DateTimeOffset.UnixEpoch);

    [Test]
    public async Task FindAsync_WithinFreshFor_NoStoreRead_PastIt_ReadsTheStoreBeforeAnswering()
    {
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        var store = new ScriptedStore { Customer = Acme };
        var directory = Create(store, time);

        Assert.That(await directory.FindAsync("acme", "c", CancellationToken.None), Is.EqualTo(Acme));
        time.Advance(TimeSpan.FromSeconds(4));
        var fresh = directory.FindAsync("acme", "c", CancellationToken.None);
        Assert.That(fresh.IsCompletedSuccessfully, Is.True, "a fresh entry answers synchronously");
        Assert.That(store.Reads, Is.EqualTo(1), "served fresh from memory");

        var lowered = Acme with { Quota = new CustomerQuota(3, QuotaPeriod.Day) };
        store.Customer = lowered;
        time.Advance(TimeSpan.FromSeconds(2));
        Assert.That(await directory.FindAsync("acme", "c", CancellationToken.None), Is.EqualTo(lowered), "the first request past FreshFor sees the change");
        Assert.That(store.Reads, Is.EqualTo(2));
    }

    [Test]
    public async Task FindAsync_StoreDown_StaleUpToStaleFor_ThenStoreUnavailable()
    {
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        var store = new ScriptedStore { Customer = Acme };
        var directory = Create(store, time);
        Assert.That(await directory.FindAsync("acme", "c", CancellationToken.None), Is.EqualTo(Acme));
        Assert.That(await directory.FindAsync("acme", "none", CancellationToken.None), Is.Null);

        store.Fail = true;
        time.Advance(TimeSpan.FromSeconds(6));
        Assert.That(await directory.FindAsync("acme", "c", CancellationToken.None), Is.EqualTo(Acme), "stale while the store is down");
        Assert.That(await directory.FindAsync("acme", "none", CancellationToken.None), Is.Null, "a stamped-only id goes on working, as its key does");

        time.Advance(TimeSpan.FromMinutes(5));
        Assert.ThrowsAsync<StoreUnavailableException>(async () => await directory.FindAsync("acme", "c", CancellationToken.None));
        Assert.ThrowsAsync<StoreUnavailableException>(async () => await directory.FindAsync("acme", "none", CancellationToken.None));
    }

    [Test]
    public async Task FindAsync_FailClosedWhenPartitioned_StoreDown_NothingPastFreshFor()
    {
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        var store = new ScriptedStore { Customer = Acme };
        var directory = Create(store, time, failClosed: true);
        Assert.That(await directory.FindAsync("acme", "c", CancellationToken.None), Is.EqualTo(Acme));

        store.Fail = true;
        time.Advance(TimeSpan.FromSeconds(6));
        Assert.ThrowsAsync<StoreUnavailableException>(async () => await directory.FindAsync("acme", "c", CancellationToken.None));
    }

    [Test]
    public async Task FindAsync_ManyConcurrentRequestsPastFreshFor_OneStoreRead()
    {
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        var store = new ScriptedStore { Customer = Acme };
        var directory = Create(store, time);
        await directory.FindAsync("acme", "c", CancellationToken.None);
        time.Advance(TimeSpan.FromSeconds(6));

        store.Gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var waiters = Enumerable.Range(0, 50).Select(_ => directory.FindAsync("acme", "c", CancellationToken.None).AsTask()).ToList();
        store.Gate.SetResult();
        await Task.WhenAll(waiters);

        Assert.That(store.Reads, Is.EqualTo(2));
    }

    [Test]
    public async Task Invalidate_DuringInFlightRead_DoesNotCacheWhatItRead()
    {
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        var store = new ScriptedStore { Customer = Acme, Gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously) };
        var directory = Create(store, time);

        var inFlight = directory.FindAsync("acme", "c", CancellationToken.None).AsTask();
        var changed = Acme with { Quota = null };
        store.Customer = changed;
        directory.Invalidate("acme", "c");
        store.Gate.SetResult();
        await inFlight;

        Assert.That(await directory.FindAsync("acme", "c", CancellationToken.None), Is.EqualTo(changed));
    }

    private static CustomerDirectory Create(ICustomerStore store, TimeProvider time, bool failClosed = false)
    {
        var settings = new GatewayOptions();
        settings.Cache.FailClosedWhenPartitioned = failClosed;
        var options = Options.Create(settings);
        return new CustomerDirectory(store, options, time, new StoreResilience(options, time));
    }

    private sealed class ScriptedStore : ICustomerStore
    {
        private int _reads;

        public Customer? Customer { get; set; }

        public bool Fail { get; set; }

        /// <summary>When set, reads wait for it.</summary>
        public TaskCompletionSource? Gate { get; set; }

        public int Reads => Volatile.Read(ref _reads);

        public async Task<Customer?> GetAsync(string orgId, string id, CancellationToken cancellationToken)
        {
            Interlocked.Increment(ref _reads);
            var found = Customer is { } c && c.OrgId == orgId && c.Id == id ? c : null;
            if (Gate is { } gate)
            {
                await gate.Task;
            }

            return Fail ? throw new StoreUnavailableException("down") : found;
        }

        public Task CreateAsync(Customer customer, AuditEntry? audit, CancellationToken cancellationToken) => Task.CompletedTask;

        public Task<IReadOnlyList<Customer>> ListAsync(string orgId, CancellationToken cancellationToken) => Task.FromResult<IReadOnlyList<Customer>>([]);

        public Task<IReadOnlyList<Customer>> ListAfterAsync(string orgId, string? afterId, int? count, CancellationToken cancellationToken) => Task.FromResult<IReadOnlyList<Customer>>([]);

        public Task<bool> UpdateAsync(Customer customer, AuditEntry audit, CancellationToken cancellationToken) => Task.FromResult(true);

        public Task<bool> DeleteAsync(string orgId, string id, AuditEntry audit, CancellationToken cancellationToken) => Task.FromResult(true);
    }
}
