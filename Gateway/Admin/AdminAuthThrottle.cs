using System.Collections.Concurrent;
using Gateway.Configuration;
using Microsoft.Extensions.Options;

namespace Gateway.Admin;

/// <summary>
/// Slows down guessing of the admin token. Once an address group (<see cref="AdminClientAddress"/>) has failed
/// <c>Admin:FailedAttempts:PermitLimit</c> times within <c>:Window</c> (counted from its first failure), every
/// admin call from it gets 429 until that window ends, with the right token too, or a guesser could tell a
/// hit from the status code. <c>Admin:GlobalFailedAttempts</c> does the same for all addresses together, so
/// guessing from many addresses is bounded as well. Only a presented, wrong token is a failure (the filter
/// decides): a request without one proves nothing and must not let a web page lock operators out.
/// </summary>
internal sealed class AdminAuthThrottle(IOptionsMonitor<GatewayOptions> options, TimeProvider time)
{
    /// <summary>Address groups tracked at most; beyond that, expired windows are dropped first.</summary>
    internal const int MaxTracked = 10_000;

    private readonly ConcurrentDictionary<UInt128, Attempts> _attempts = new();
    private readonly Attempts _global = new(DateTimeOffset.MinValue);

    /// <summary>How long <paramref name="group"/> must wait, or null when it may call now.</summary>
    public TimeSpan? RetryAfter(UInt128 group)
    {
        var now = time.GetUtcNow();
        var limits = options.CurrentValue.Admin;
        TimeSpan? wait = Locked(_global, now, limits.GlobalFailedAttempts.PermitLimit);
        if (_attempts.TryGetValue(group, out var attempts))
        {
            lock (attempts)
            {
                if (now >= attempts.Ends)
                {
                    _attempts.TryRemove(new KeyValuePair<UInt128, Attempts>(group, attempts));
                }
            }

            if (Locked(attempts, now, limits.FailedAttempts.PermitLimit) is { } own && (wait is null || own > wait))
            {
                wait = own;
            }
        }

        return wait;
    }

    /// <summary>Counts a wrong token; says whether this one used up the group's or the global allowance.</summary>
    public (bool Group, bool Global) Failed(UInt128 group)
    {
        var limits = options.CurrentValue.Admin;
        var now = time.GetUtcNow();
        if (_attempts.Count >= MaxTracked && !_attempts.ContainsKey(group))
        {
            Prune(now);
        }

        var attempts = _attempts.GetOrAdd(group, static (_, ends) => new Attempts(ends), now + limits.FailedAttempts.Window);
        return (Count(attempts, now, limits.FailedAttempts), Count(_global, now, limits.GlobalFailedAttempts));
    }

    private static TimeSpan? Locked(Attempts attempts, DateTimeOffset now, int permitLimit)
    {
        lock (attempts)
        {
            return now < attempts.Ends && attempts.Failures >= permitLimit ? attempts.Ends - now : null;
        }
    }

    private static bool Count(Attempts attempts, DateTimeOffset now, WindowLimitOptions limit)
    {
        lock (attempts)
        {
            if (now >= attempts.Ends)
            {
                attempts.Ends = now + limit.Window;
                attempts.Failures = 0;
            }

            attempts.Failures++;
            return attempts.Failures == limit.PermitLimit;
        }
    }

    private void Prune(DateTimeOffset now)
    {
        foreach (var (group, attempts) in _attempts)
        {
            if (now >= attempts.Ends)
            {
                _attempts.TryRemove(new KeyValuePair<UInt128, Attempts>(group, attempts));
            }
        }

        // Still full of live windows (many addresses guessing at once): forget the oldest half rather than grow.
        // The global budget still counts their attempts.
        if (_attempts.Count >= MaxTracked)
        {
            foreach (var (group, _) in _attempts.OrderBy(a => a.Value.Ends).Take(MaxTracked / 2).ToList())
            {
                _attempts.TryRemove(group, out _);
            }
        }
    }

    private sealed class Attempts(DateTimeOffset ends)
    {
        public DateTimeOffset Ends { get; set; } = ends;

        public int Failures { get; set; }
    }
}
