using System.Collections.Concurrent;
using System.Net;
using Gateway.Configuration;
using Microsoft.Extensions.Options;

namespace Gateway.Admin;

/// <summary>
/// Slows down guessing of the admin token: once an address has failed
/// <c>Admin:FailedAttempts:PermitLimit</c> times within <c>:Window</c> (counted from its first failure),
/// every admin call from it gets 429 until that window ends, with the right token too, or a guesser
/// could tell a hit from the status code.
/// </summary>
internal sealed class AdminAuthThrottle(IOptionsMonitor<GatewayOptions> options, TimeProvider time)
{
    /// <summary>Addresses tracked at most; beyond that, expired windows are dropped first.</summary>
    internal const int MaxTracked = 10_000;

    private readonly ConcurrentDictionary<IPAddress, Attempts> _attempts = new();

    /// <summary>How long <paramref name="address"/> must wait, or null when it may call now.</summary>
    public TimeSpan? RetryAfter(IPAddress address)
    {
        if (!_attempts.TryGetValue(address, out var attempts))
        {
            return null;
        }

        var now = time.GetUtcNow();
        lock (attempts)
        {
            if (now >= attempts.Ends)
            {
                _attempts.TryRemove(new KeyValuePair<IPAddress, Attempts>(address, attempts));
                return null;
            }

            return attempts.Failures >= options.CurrentValue.Admin.FailedAttempts.PermitLimit ? attempts.Ends - now : null;
        }
    }

    /// <summary>Counts a failed attempt; true when this one used up the address's allowance.</summary>
    public bool Failed(IPAddress address)
    {
        var limit = options.CurrentValue.Admin.FailedAttempts;
        var now = time.GetUtcNow();
        if (_attempts.Count >= MaxTracked && !_attempts.ContainsKey(address))
        {
            Prune(now);
        }

        var attempts = _attempts.GetOrAdd(address, static (_, ends) => new Attempts(ends), now + limit.Window);
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
        foreach (var (address, attempts) in _attempts)
        {
            if (now >= attempts.Ends)
            {
                _attempts.TryRemove(new KeyValuePair<IPAddress, Attempts>(address, attempts));
            }
        }

        // Still full of live windows (many addresses guessing at once): forget the oldest half rather than grow.
        if (_attempts.Count >= MaxTracked)
        {
            foreach (var (address, _) in _attempts.OrderBy(a => a.Value.Ends).Take(MaxTracked / 2).ToList())
            {
                _attempts.TryRemove(address, out _);
            }
        }
    }

    private sealed class Attempts(DateTimeOffset ends)
    {
        public DateTimeOffset Ends { get; set; } = ends;

        public int Failures { get; set; }
    }
}
