using Gateway.Domain;
using Gateway.Stores;

namespace Gateway.Customers;

/// <summary>Where customers live: a table of the embedded SQLite store, or a hash per organization in Redis.</summary>
internal interface ICustomerStore
{
    /// <summary>Creates a customer and appends <paramref name="audit"/> to its organization's log in the same write (none: a copy by <c>migrate-store</c>, whose audit log comes along).</summary>
    /// <exception cref="StoreConflictException">The organization has a customer with this id.</exception>
    Task CreateAsync(Customer customer, AuditEntry? audit, CancellationToken cancellationToken);

    Task<Customer?> GetAsync(string orgId, string id, CancellationToken cancellationToken);

    Task<IReadOnlyList<Customer>> ListAsync(string orgId, CancellationToken cancellationToken);

    /// <summary>
    /// A page of <see cref="ListAsync"/>'s list (by id, ordinal): at most <paramref name="count"/> customers (null: all),
    /// those after <paramref name="afterId"/> only, so a customer created or deleted between pages moves no other.
    /// </summary>
    Task<IReadOnlyList<Customer>> ListAfterAsync(string orgId, string? afterId, int? count, CancellationToken cancellationToken);

    /// <summary>Replaces a customer and appends <paramref name="audit"/> in the same write; false (and no entry) when there is none.</summary>
    Task<bool> UpdateAsync(Customer customer, AuditEntry audit, CancellationToken cancellationToken);

    /// <summary>Deletes a customer and appends <paramref name="audit"/> in the same write; false (and no entry) when there was none.</summary>
    Task<bool> DeleteAsync(string orgId, string id, AuditEntry audit, CancellationToken cancellationToken);
}
