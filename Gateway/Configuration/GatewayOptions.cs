namespace Gateway.Configuration;

/// <summary>The <c>Gateway</c> configuration section (docs/configuration.md).</summary>
public sealed class GatewayOptions
{
    public const string SectionName = "Gateway";

    public string Environment { get; set; } = "production";

    public string KeyPrefix { get; set; } = "gw";

    public StoreOptions Store { get; set; } = new();

    public AdminOptions Admin { get; set; } = new();

    public List<string> TrustedProxies { get; set; } = [];

    /// <summary>
    /// Drop every request header whose name contains '_' before forwarding, as nginx does by default:
    /// CGI-style upstreams read '_' and '-' alike, so such names can pose as headers the gateway sets.
    /// </summary>
    public bool DropHeadersWithUnderscores { get; set; }

    /// <summary>
    /// Request headers never forwarded from clients, on top of the built-in list (Proxy/StrippedHeaders.cs):
    /// names an upstream framework trusts, matched in any letter case and with '_' read as '-'.
    /// </summary>
    public List<string> StripHeaders { get; set; } = [];

    public PathsOptions Paths { get; set; } = new();

    public RateLimitsOptions RateLimits { get; set; } = new();

    /// <summary>Plans customers are put on, by name: a rate limit and/or a calendar quota (docs/plans-and-quotas.md).</summary>
    public Dictionary<string, PlanOptions> Plans { get; set; } = new(StringComparer.Ordinal);

    public List<string> Scopes { get; set; } = [];

    public CacheOptions Cache { get; set; } = new();

    public UsageOptions Usage { get; set; } = new();

    public DemoOptions Demo { get; set; } = new();
}

public sealed class PathsOptions
{
    /// <summary>
    /// Normalize a request target with empty or dot segments, ';' parameters or encoded '/', '\' or ';'
    /// before routing, instead of refusing it with 400 <c>bad_path</c>; the normalized path is the one
    /// authorized and forwarded.
    /// </summary>
    public bool Normalize { get; set; }
}

public sealed class StoreOptions
{
    public string Path { get; set; } = "data/gateway.db";

    public string? Redis { get; set; }

    public string RedisPrefix { get; set; } = "gw:";

    /// <summary>
    /// PEM file of the certificate authority that signed Redis's TLS certificate, trusted for the Redis
    /// connection only (with <c>ssl=true</c> in <see cref="Redis"/>), so a private CA needs no change to the
    /// machine's trust store.
    /// </summary>
    public string? RedisCaFile { get; set; }

    /// <summary>Upper bound for one store call; a slow store must fail fast, not hold requests for a TCP timeout.</summary>
    public TimeSpan Timeout { get; set; } = TimeSpan.FromSeconds(1);
}

public sealed class AdminOptions
{
    public string? Token { get; set; }

    /// <summary>Failed admin authentications one address (IPv6: one prefix) may make per window before its calls get 429.</summary>
    public WindowLimitOptions FailedAttempts { get; set; } = new() { PermitLimit = 10, Window = TimeSpan.FromMinutes(1) };

    /// <summary>
    /// Failed admin authentications from all addresses together per window before every admin call gets 429:
    /// guessing from many addresses at once is bounded too.
    /// </summary>
    public WindowLimitOptions GlobalFailedAttempts { get; set; } = new() { PermitLimit = 100, Window = TimeSpan.FromMinutes(1) };

    /// <summary>
    /// IPs or CIDRs in front of the admin listener whose <c>X-Forwarded-For</c> is believed; separate from
    /// <see cref="GatewayOptions.TrustedProxies"/>, which names the proxy listener's ingress.
    /// </summary>
    public List<string> TrustedProxies { get; set; } = [];
}

public sealed class RateLimitsOptions
{
    public WindowLimitOptions Workspace { get; set; } = new() { PermitLimit = 120, Window = TimeSpan.FromMinutes(1) };

    public IpLimitOptions Ip { get; set; } = new() { PermitLimit = 60, Window = TimeSpan.FromMinutes(1) };

    public Dictionary<string, WindowLimitOptions> Policies { get; set; } = new(StringComparer.Ordinal);

    /// <summary>IPv6 clients share the IP limit per prefix of this length (a host usually holds a whole /64).</summary>
    public int Ipv6PrefixLength { get; set; } = 64;
}

public class WindowLimitOptions
{
    public int PermitLimit { get; set; }

    public TimeSpan Window { get; set; }
}

public sealed class IpLimitOptions : WindowLimitOptions
{
    /// <summary>
    /// Memory (MB) of the sketch that counts client addresses past the exact set of 100,000, fixed at start:
    /// more memory, fewer addresses refused early under a flood of distinct addresses.
    /// </summary>
    public int MaxMemoryMB { get; set; } = 32;
}

public sealed class CacheOptions
{
    /// <summary>How long a resolved key is served from memory without asking the store.</summary>
    public TimeSpan FreshFor { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>How long a resolved key may still be served while the store is unreachable.</summary>
    public TimeSpan StaleFor { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>
    /// When true, a key is never served past <see cref="FreshFor"/> while the store is unreachable: such
    /// requests get 503 <c>store_unavailable</c> instead of risking a key revoked on another instance.
    /// </summary>
    public bool FailClosedWhenPartitioned { get; set; }

    /// <summary>How long an unknown hash is remembered as unknown.</summary>
    public TimeSpan NegativeFor { get; set; } = TimeSpan.FromSeconds(2);

    public int MaxEntries { get; set; } = 100_000;

    /// <summary>
    /// Whether the cache is filled at start with the keys that can open a request, most recently used first, up to
    /// nine tenths of <see cref="MaxEntries"/>, in bulk reads in the background (requests are served meanwhile).
    /// </summary>
    public bool WarmUp { get; set; } = true;
}

public sealed class UsageOptions
{
    /// <summary>Whether proxied requests are counted per key (the admin API still answers from stored counts when off).</summary>
    public bool Enabled { get; set; } = true;

    /// <summary>How often counts and last-used times kept in memory are written to the store.</summary>
    public TimeSpan FlushInterval { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>How long per-minute counts are kept before they are rolled up to hours.</summary>
    public TimeSpan MinuteResolutionFor { get; set; } = TimeSpan.FromDays(1);

    /// <summary>How long usage is kept at all.</summary>
    public TimeSpan Retention { get; set; } = TimeSpan.FromDays(30);

    /// <summary>How often roll-up and retention run.</summary>
    public TimeSpan CompactionInterval { get; set; } = TimeSpan.FromMinutes(10);
}

public sealed class DemoOptions
{
    public bool Enabled { get; set; }

    public string Url { get; set; } = "http://127.0.0.1:8082";
}

/// <summary>A plan: a rate limit and/or a quota per calendar day or month (UTC), shared by a customer's keys.</summary>
public sealed class PlanOptions
{
    public WindowLimitOptions? RateLimit { get; set; }

    public QuotaOptions? Quota { get; set; }
}

public sealed class QuotaOptions
{
    public long Limit { get; set; }

    /// <summary><c>day</c> or <c>month</c>, calendar periods in UTC.</summary>
    public string Period { get; set; } = "month";
}
