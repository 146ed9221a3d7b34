using Microsoft.Extensions.Options;

namespace Gateway.Tests.Common;

/// <summary>Options that never change, for a middleware or service built by hand in a unit test.</summary>
public sealed class StaticOptionsMonitor<T>(T value) : IOptionsMonitor<T>
{
    public T CurrentValue => value;

    public T Get(string? name) => value;

    public IDisposable? OnChange(Action<T, string?> listener) => null;
}
