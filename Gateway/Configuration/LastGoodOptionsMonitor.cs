using Gateway.Observability;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Primitives;

namespace Gateway.Configuration;

/// <summary>
/// An <see cref="IOptionsMonitor{TOptions}"/> that keeps the last valid value when a hot reload brings an
/// invalid one. The stock monitor would throw <see cref="OptionsValidationException"/> from every
/// <c>CurrentValue</c> read after a bad edit of appsettings.json, failing every request; a gateway must
/// keep serving with the last good settings and say loudly why the edit was ignored.
/// At start an invalid value still throws, so bad settings stop start-up.
/// </summary>
internal sealed partial class LastGoodOptionsMonitor<TOptions> : IOptionsMonitor<TOptions>, IDisposable
    where TOptions : class
{
    private readonly IOptionsFactory<TOptions> _factory;
    private readonly ILogger _logger;
    private readonly List<IDisposable> _registrations = [];
    private readonly Lock _listenersLock = new();
    private ImmutableListeners _listeners = new([]);
    private volatile TOptions _current;

    public LastGoodOptionsMonitor(IOptionsFactory<TOptions> factory, IEnumerable<IOptionsChangeTokenSource<TOptions>> sources, ILogger<LastGoodOptionsMonitor<TOptions>> logger)
    {
        _factory = factory;
        _logger = logger;
        _current = factory.Create(Options.DefaultName);
        foreach (var source in sources)
        {
            if (source.Name == Options.DefaultName)
            {
                _registrations.Add(ChangeToken.OnChange(source.GetChangeToken, Reload));
            }
        }
    }

    public TOptions CurrentValue => _current;

    public TOptions Get(string? name) => _current;

    public IDisposable? OnChange(Action<TOptions, string?> listener)
    {
        lock (_listenersLock)
        {
            _listeners = new ImmutableListeners([.. _listeners.Items, listener]);
        }

        return new Unsubscriber(this, listener);
    }

    public void Dispose()
    {
        foreach (var registration in _registrations)
        {
            registration.Dispose();
        }
    }

    private void Reload()
    {
        TOptions next;
        try
        {
            next = _factory.Create(Options.DefaultName);
        }
        catch (OptionsValidationException ex)
        {
            Log.ReloadRejected(_logger, typeof(TOptions).Name, string.Join(" ", ex.Failures));
            return;
        }
        catch (InvalidOperationException ex)
        {
            // Binding errors (e.g. "abc" for a TimeSpan) name the setting in the message.
            Log.ReloadRejected(_logger, typeof(TOptions).Name, ex.Message);
            return;
        }

        _current = next;
        foreach (var listener in _listeners.Items)
        {
            listener(next, Options.DefaultName);
        }
    }

    private sealed record ImmutableListeners(Action<TOptions, string?>[] Items);

    private sealed class Unsubscriber(LastGoodOptionsMonitor<TOptions> owner, Action<TOptions, string?> listener) : IDisposable
    {
        public void Dispose()
        {
            lock (owner._listenersLock)
            {
                owner._listeners = new ImmutableListeners(owner._listeners.Items.Where(l => l != listener).ToArray());
            }
        }
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = EventIds.OptionsReloadRejected, Level = LogLevel.Error, Message = "Ignored a configuration reload of {Options}; the previous settings stay in force: {Errors}")]
        public static partial void ReloadRejected(ILogger logger, string options, string errors);
    }
}
