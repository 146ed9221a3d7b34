using Yarp.ReverseProxy.Forwarder;

namespace Gateway.Proxy;

/// <summary>
/// YARP's forwarder logs every failed exchange as a Warning with a stack trace, the client's failures too:
/// a body over Kestrel's limit, bad chunk framing, a client that went away. Those are not the operator's
/// problem and one client could fill the log with them; <see cref="ProxyOutcomeMiddleware"/> answers them
/// (400/413/499) and logs them at Debug. This logger stands in for the forwarder's own and passes its
/// client-side errors on at Debug; upstream failures keep YARP's level.
/// </summary>
internal sealed class ForwarderErrorLogger<T>(ILoggerFactory factory) : ILogger<T>
{
    // Yarp.ReverseProxy.Utilities.EventIds.ForwardingError, internal to YARP.
    private const int ForwardingErrorEventId = 48;

    private readonly ILogger _inner = factory.CreateLogger<T>();

    public IDisposable? BeginScope<TState>(TState state)
        where TState : notnull => _inner.BeginScope(state);

    public bool IsEnabled(LogLevel logLevel) => _inner.IsEnabled(logLevel) || (logLevel > LogLevel.Debug && _inner.IsEnabled(LogLevel.Debug));

    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
    {
        if (eventId.Id == ForwardingErrorEventId && logLevel > LogLevel.Debug && IsClientSide(state))
        {
            logLevel = LogLevel.Debug;
        }

        if (_inner.IsEnabled(logLevel))
        {
            _inner.Log(logLevel, eventId, state, exception, formatter);
        }
    }

    private static bool IsClientSide<TState>(TState state)
    {
        if (state is IReadOnlyList<KeyValuePair<string, object?>> fields)
        {
            foreach (var (name, value) in fields)
            {
                if (name == "error" && value is ForwarderError error)
                {
                    return ProxyOutcomeMiddleware.IsClientSide(error);
                }
            }
        }

        return false;
    }
}

internal static class ForwarderErrorLogging
{
    /// <summary>Puts <see cref="ForwarderErrorLogger{T}"/> in place of the logger YARP's forwarder asks for.</summary>
    public static IReverseProxyBuilder AddGatewayForwarderErrorLogging(this IReverseProxyBuilder builder)
    {
        // The forwarder class is internal to YARP; its logger is resolved as ILogger<HttpForwarder>, and a closed
        // registration wins over the open ILogger<> one. Without the type (a YARP that renamed it) nothing changes.
        if (typeof(IHttpForwarder).Assembly.GetType("Yarp.ReverseProxy.Forwarder.HttpForwarder") is { } forwarder)
        {
            builder.Services.AddSingleton(typeof(ILogger<>).MakeGenericType(forwarder), typeof(ForwarderErrorLogger<>).MakeGenericType(forwarder));
        }

        return builder;
    }
}
