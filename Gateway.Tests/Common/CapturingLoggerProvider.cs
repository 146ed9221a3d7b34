using System.Collections.Concurrent;
using System.Text;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Gateway.Tests.Common;

/// <summary>
/// Keeps everything a logger provider is given: message, every state field, every scope field and the
/// exception, one string per entry, so a test can search all of a host's log output.
/// </summary>
public sealed class CapturingLoggerProvider(LogLevel minimum = LogLevel.Trace) : ILoggerProvider, ISupportExternalScope
{
    private readonly ConcurrentQueue<(string Category, LogLevel Level, int EventId, string Message, string Text)> _entries = new();
    private readonly LogLevel _minimum = minimum;
    private IExternalScopeProvider _scopes = new LoggerExternalScopeProvider();

    public IReadOnlyList<(string Category, LogLevel Level, int EventId, string Message, string Text)> Entries => _entries.ToArray();

    /// <summary>Registers the provider so it sees every level even though <see cref="GatewayHost"/> silences logging.</summary>
    /// <remarks>
    /// The filter rule names the provider's type, so it applies to every instance of it in the host; an instance that
    /// wants less filters itself (the constructor's minimum) rather than through a rule the others would obey too.
    /// </remarks>
    public void AddTo(IServiceCollection services)
    {
        services.AddSingleton<ILoggerProvider>(this);
        services.Configure<LoggerFilterOptions>(o => o.Rules.Add(new LoggerFilterRule(typeof(CapturingLoggerProvider).FullName, null, LogLevel.Trace, null)));
    }

    public ILogger CreateLogger(string categoryName) => new Logger(this, categoryName);

    public void SetScopeProvider(IExternalScopeProvider scopeProvider) => _scopes = scopeProvider;

    public void Dispose()
    {
    }

    private sealed class Logger(CapturingLoggerProvider owner, string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => owner._scopes.Push(state);

        public bool IsEnabled(LogLevel logLevel) => logLevel >= owner._minimum && logLevel != LogLevel.None;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (!IsEnabled(logLevel))
            {
                return;
            }

            var message = formatter(state, exception);
            var text = new StringBuilder().Append(logLevel).Append(' ').Append(category).Append(' ').Append(message);
            if (state is IEnumerable<KeyValuePair<string, object?>> fields)
            {
                foreach (var (name, value) in fields)
                {
                    text.Append(' ').Append(name).Append('=').Append(value);
                }
            }

            owner._scopes.ForEachScope(
                static (scope, builder) =>
                {
                    builder.Append(" scope:").Append(scope);
                    if (scope is IEnumerable<KeyValuePair<string, object?>> pairs)
                    {
                        foreach (var (name, value) in pairs)
                        {
                            builder.Append(' ').Append(name).Append('=').Append(value);
                        }
                    }
                },
                text);
            if (exception is not null)
            {
                text.Append(' ').Append(exception);
            }

            owner._entries.Enqueue((category, logLevel, eventId.Id, message, text.ToString()));
        }
    }
}
