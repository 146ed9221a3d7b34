using Gateway.Stores;

namespace Gateway.Customers;

/// <summary>Where customers live: a table of the embedded SQLite store, or a hash per organization in Redis.</summary>
internal interface ICustomerStore
{
    /// <exception cref="StoreConflictException">The organization has a customer with this id.</exception>
    Task CreateAsync(Customer customer, CancellationToken cancellationToken);

    Task<Customer?> GetAsync(string orgId, string id, CancellationToken cancellationToken);

    Task<IReadOnlyList<Customer>> ListAsync(string orgId, CancellationToken cancellationToken);

    /// <summary>Replaces a customer; false when there is none.</summary>
    Task<bool> UpdateAsync(Customer customer, CancellationToken cancellationToken);

    /// <summary>False when there was none.</summary>
    Task<bool> DeleteAsync(string orgId, string id, CancellationToken cancellationToken);
}
