namespace Gateway.Stores;

/// <summary>A write collided with an existing row: a duplicate org id or a live key name.</summary>
public sealed class StoreConflictException(string field, string message) : Exception(message)
{
    public string Field { get; } = field;

    // Both stores report the same collisions in the same words, so admin clients see one message per cause.
    internal static StoreConflictException OrganizationId() => new("id", "An organization with this id exists.");

    internal static StoreConflictException KeyName() => new("name", "A key with this name exists in the organization.");
}

/// <summary>The row changed between read and write (another admin call won).</summary>
public sealed class StoreConcurrencyException(string message) : Exception(message)
{
    internal static StoreConcurrencyException KeyChanged(string? keyId = null) =>
        new(keyId is null ? "The key changed concurrently; retry the call." : $"Key '{keyId}' changed concurrently; retry the call.");

    internal static StoreConcurrencyException KeyGone(string keyId) => new($"Key '{keyId}' no longer exists.");
}

/// <summary>A write named an organization or key that does not exist (any more).</summary>
public sealed class StoreNotFoundException(string message) : Exception(message)
{
    internal static StoreNotFoundException OrganizationOrKey() => new("The organization or key does not exist.");
}

/// <summary>A paging cursor that this store did not hand out.</summary>
public sealed class StoreCursorException() : Exception("The cursor is not valid.");

/// <summary>The store could not be reached or did not answer in time.</summary>
public sealed class StoreUnavailableException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>
/// The store answered but could not read what it holds (a damaged page, a malformed row): not a wait-and-retry
/// outage. Readiness reports it until the gateway restarts on a repaired or restored store.
/// </summary>
internal sealed class StoreDamagedException(string message, Exception inner) : Exception(message, inner);
