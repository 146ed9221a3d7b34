using System.Collections.Concurrent;
using Gateway.Configuration;
using Gateway.Stores;
using Microsoft.Extensions.Options;

namespace Gateway.Customers;

/// <summary>
/// The request path's view of customers, cached like keys (<c>Gateway:Cache</c>, the rules of the key cache's
/// <c>KeyResolver</c>): an entry is used without asking the store for <c>Cache:FreshFor</c>; after that the store is
/// read before the entry admits another request (concurrent requests for one customer share that read), so a change
/// made on another instance is in force here within <c>FreshFor</c>. Only when the store cannot answer is an older
/// entry used, up to <c>Cache:StaleFor</c> after it was read (none with <c>Cache:FailClosedWhenPartitioned</c>); past
/// that the request gets 503. "No such customer" is kept the same way: during an outage a key whose customer id is
/// only stamped goes on working, as the key itself does. Writes through the admin API on this instance apply at once.
/// </summary>
/// <remarks>
/// It used to serve an entry of any age once and refresh it in the background: with no change announcements for
/// customers, another instance then admitted requests past a lowered or newly added quota, however old its entry was.
/// </remarks>
internal sealed class CustomerDirectory
{
    private readonly ICustomerStore _store;
    private readonly TimeProvider _time;
    private readonly StoreResilience _resilience;
    private readonly TimeSpan _freshFor;
    private readonly TimeSpan _staleFor;
    private readonly bool _failClosed;
    private readonly ConcurrentDictionary<(string Org, string Id), Entry> _entries = new();
    private readonly ConcurrentDictionary<(string Org, string Id), Lazy<Task<Customer?>>> _inflight = new();

    // Bumped by every invalidation: a store read that started before a write on this instance must not cache
    // what it read, or the old customer would be back for a whole fresh period.
    private long _generation;

    public CustomerDirectory(ICustomerStore store, IOptions<GatewayOptions> options, TimeProvider time, StoreResilience resilience)
    {
        _store = store;
        _time = time;
        _resilience = resilience;
        var cache = options.Value.Cache;
        _freshFor = cache.FreshFor;
        _staleFor = cache.StaleFor;
        _failClosed = cache.FailClosedWhenPartitioned;
    }

    /// <summary>The registered customer, or null when <paramref name="customerId"/> names none (it is then only stamped).</summary>
    /// <exception cref="StoreUnavailableException">The store cannot answer and nothing usable is cached.</exception>
    public ValueTask<Customer?> FindAsync(string orgId, string customerId, CancellationToken cancellationToken)
    {
        var id = (orgId, customerId);
        Entry? fallback = null;
        if (_entries.TryGetValue(id, out var entry))
        {
            var age = _time.GetElapsedTime(entry.ReadAt);
            if (age < _freshFor)
            {
                // Nearly every request: no store call, no async state machine.
                return ValueTask.FromResult(entry.Value);
            }

            if (age < _staleFor)
            {
                fallback = _failClosed ? null : entry;
            }
            else
            {
                // Only that entry: one read since stays.
                _entries.TryRemove(new KeyValuePair<(string, string), Entry>(id, entry));
            }
        }

        return LoadOrStaleAsync(id, fallback, cancellationToken);
    }

    /// <summary>Drops what this instance knows of a customer after a write, so its next request reads the store.</summary>
    public void Invalidate(string orgId, string customerId)
    {
        Interlocked.Increment(ref _generation);
        _entries.TryRemove((orgId, customerId), out _);
        _inflight.TryRemove((orgId, customerId), out _);
    }

    private async ValueTask<Customer?> LoadOrStaleAsync((string Org, string Id) id, Entry? fallback, CancellationToken cancellationToken)
    {
        try
        {
            return await LoadAsync(id).WaitAsync(cancellationToken);
        }
        catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            if (fallback is { } known)
            {
                return known.Value;
            }

            throw ex as StoreUnavailableException ?? new StoreUnavailableException("The customer store did not answer.", ex);
        }
    }

    private async Task<Customer?> LoadAsync((string Org, string Id) id)
    {
        var generation = Interlocked.Read(ref _generation);
        var lazy = _inflight.GetOrAdd(id, static (i, state) => new Lazy<Task<Customer?>>(() => state.self.ReadStoreAsync(i, state.generation)), (self: this, generation));
        try
        {
            return await lazy.Value;
        }
        finally
        {
            // Remove only this read: an invalidation may already have started a newer one.
            _inflight.TryRemove(new KeyValuePair<(string, string), Lazy<Task<Customer?>>>(id, lazy));
        }
    }

    private async Task<Customer?> ReadStoreAsync((string Org, string Id) id, long generation)
    {
        // Not the caller's cancellation: the read is shared, and what it brings back serves the next requests too.
        var customer = await _resilience.ExecuteAsync(
            static (state, ct) => state.Store.GetAsync(state.Id.Org, state.Id.Id, ct), (Store: _store, Id: id), CancellationToken.None);
        if (generation == Interlocked.Read(ref _generation))
        {
            _entries[id] = new Entry(customer, _time.GetTimestamp());
        }

        return customer;
    }

    private readonly record struct Entry(Customer? Value, long ReadAt);
}
