using System.Collections.Concurrent;
using Gateway.Configuration;
using Microsoft.Extensions.Options;

namespace Gateway.Customers;

/// <summary>
/// The request path's view of customers: each (org, customer id) is read from the store once, then served
/// from memory and refreshed in the background once older than <c>Gateway:Cache:FreshFor</c> (as keys are), so
/// a request never waits for the store except on the first use of a customer. Writes through the admin API on
/// this instance apply at once; other instances see them within that time. A refresh that fails keeps what
/// was known.
/// </summary>
internal sealed class CustomerDirectory(ICustomerStore store, IOptionsMonitor<GatewayOptions> options, TimeProvider time)
{
    private readonly ConcurrentDictionary<(string Org, string Id), Entry> _entries = new();

    /// <summary>The registered customer, or null when <paramref name="customerId"/> names none (it is then only stamped).</summary>
    public ValueTask<Customer?> FindAsync(string orgId, string customerId, CancellationToken cancellationToken)
    {
        var now = time.GetTimestamp();
        if (_entries.TryGetValue((orgId, customerId), out var entry))
        {
            if (time.GetElapsedTime(entry.FetchedAt, now) > options.CurrentValue.Cache.FreshFor && Interlocked.Exchange(ref entry.Refreshing, 1) == 0)
            {
                _ = RefreshAsync(orgId, customerId);
            }

            return ValueTask.FromResult(entry.Value);
        }

        return LoadAsync(orgId, customerId, cancellationToken);
    }

    /// <summary>Drops what this instance knows of a customer after a write, so its next request reads the store.</summary>
    public void Invalidate(string orgId, string customerId) => _entries.TryRemove((orgId, customerId), out _);

    private async ValueTask<Customer?> LoadAsync(string orgId, string customerId, CancellationToken cancellationToken)
    {
        var customer = await store.GetAsync(orgId, customerId, cancellationToken);
        _entries[(orgId, customerId)] = new Entry(customer, time.GetTimestamp());
        return customer;
    }

    private async Task RefreshAsync(string orgId, string customerId)
    {
        try
        {
            await LoadAsync(orgId, customerId, CancellationToken.None);
        }
        catch (Exception)
        {
            // Keep serving what was known; the next request past FreshFor tries again.
            if (_entries.TryGetValue((orgId, customerId), out var entry))
            {
                entry.Refreshing = 0;
            }
        }
    }

    private sealed class Entry(Customer? value, long fetchedAt)
    {
        public readonly Customer? Value = value;
        public readonly long FetchedAt = fetchedAt;
        public int Refreshing;
    }
}
