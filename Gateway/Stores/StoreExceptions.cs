namespace Gateway.Stores;

/// <summary>A write collided with an existing row: a duplicate org id or a live key name.</summary>
public sealed class StoreConflictException(string field, string message) : Exception(message)
{
    public string Field { get; } = field;
}

/// <summary>The row changed between read and write (another admin call won).</summary>
public sealed class StoreConcurrencyException(string message) : Exception(message);

/// <summary>The store could not be reached or did not answer in time.</summary>
public sealed class StoreUnavailableException(string message, Exception? inner = null) : Exception(message, inner);
