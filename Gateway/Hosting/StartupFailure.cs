using Microsoft.Extensions.Options;

namespace Gateway.Hosting;

internal static class StartupFailure
{
    /// <summary>
    /// The messages worth showing an operator for a failed start: every validation failure, and the
    /// inner messages that YARP and the configuration binder wrap their reasons in.
    /// </summary>
    public static IEnumerable<string> Describe(Exception exception)
    {
        var seen = new HashSet<string>(StringComparer.Ordinal);
        var pending = new Stack<Exception>([exception]);
        while (pending.TryPop(out var current))
        {
            IEnumerable<string> messages = current is OptionsValidationException validation ? validation.Failures : [current.Message];
            foreach (var message in messages)
            {
                if (seen.Add(message))
                {
                    yield return message;
                }
            }

            var inner = current is AggregateException aggregate ? aggregate.InnerExceptions : current.InnerException is { } one ? [one] : [];
            foreach (var child in inner.Reverse())
            {
                pending.Push(child);
            }
        }
    }
}
