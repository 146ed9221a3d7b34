using Microsoft.Extensions.Options;

namespace Gateway.Webhooks;

/// <summary>Settings under <c>Gateway:Webhooks</c> (docs/webhooks.md).</summary>
internal sealed class WebhookOptions
{
    public const string SectionName = "Gateway:Webhooks";

    /// <summary>Let webhook URLs reach loopback, link-local and private addresses (tests, single-host set-ups).</summary>
    public bool AllowPrivateNetworks { get; set; }

    /// <summary>Accept <c>http</c> URLs as well as <c>https</c>.</summary>
    public bool AllowHttp { get; set; }

    /// <summary>How long a delivery is retried, and how long an endpoint may fail without a success before it is disabled.</summary>
    public TimeSpan RetryFor { get; set; } = TimeSpan.FromHours(24);

    /// <summary><c>key.expiring</c> fires once per key when its expiry is this close.</summary>
    public TimeSpan ExpiringWithin { get; set; } = TimeSpan.FromDays(7);

    /// <summary>One attempt's time limit (connect, send, answer).</summary>
    public TimeSpan Timeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>The first retry's delay; each later one doubles, with jitter, up to <see cref="MaxRetryDelay"/>.</summary>
    public TimeSpan RetryDelay { get; set; } = TimeSpan.FromSeconds(5);

    public TimeSpan MaxRetryDelay { get; set; } = TimeSpan.FromHours(1);

    /// <summary>Retries made at once (Polly) before a delivery goes back to the outbox with a later due time.</summary>
    public int ImmediateRetries { get; set; } = 2;

    /// <summary>How often the outbox is polled for due deliveries (new events on this instance wake it at once).</summary>
    public TimeSpan PollInterval { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>How often keys are scanned for <c>key.expiring</c>.</summary>
    public TimeSpan ExpiryScanInterval { get; set; } = TimeSpan.FromMinutes(5);

    public int MaxPerOrg { get; set; } = 20;

    /// <summary>How long a claimed delivery is this instance's before another may take it over (a crashed instance's claims).</summary>
    public TimeSpan Lease => (Timeout * (ImmediateRetries + 1)) + (RetryDelay * (1 << Math.Min(ImmediateRetries, 10)) * 2) + TimeSpan.FromSeconds(5);
}

internal sealed class WebhookOptionsValidator : IValidateOptions<WebhookOptions>
{
    public ValidateOptionsResult Validate(string? name, WebhookOptions o)
    {
        const string S = WebhookOptions.SectionName;
        var errors = new List<string>();
        Range(errors, $"{S}:RetryFor", o.RetryFor, TimeSpan.FromSeconds(1), TimeSpan.FromDays(30));
        Range(errors, $"{S}:ExpiringWithin", o.ExpiringWithin, TimeSpan.FromMinutes(1), TimeSpan.FromDays(365));
        Range(errors, $"{S}:Timeout", o.Timeout, TimeSpan.FromMilliseconds(100), TimeSpan.FromMinutes(5));
        Range(errors, $"{S}:RetryDelay", o.RetryDelay, TimeSpan.FromMilliseconds(10), TimeSpan.FromHours(1));
        Range(errors, $"{S}:MaxRetryDelay", o.MaxRetryDelay, o.RetryDelay, TimeSpan.FromDays(1));
        Range(errors, $"{S}:PollInterval", o.PollInterval, TimeSpan.FromMilliseconds(10), TimeSpan.FromMinutes(10));
        Range(errors, $"{S}:ExpiryScanInterval", o.ExpiryScanInterval, TimeSpan.FromSeconds(1), TimeSpan.FromDays(1));
        if (o.ImmediateRetries is < 0 or > 5)
        {
            errors.Add($"{S}:ImmediateRetries must be between 0 and 5 (got {o.ImmediateRetries}).");
        }

        if (o.MaxPerOrg is < 1 or > 1000)
        {
            errors.Add($"{S}:MaxPerOrg must be between 1 and 1000 (got {o.MaxPerOrg}).");
        }

        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }

    private static void Range(List<string> errors, string name, TimeSpan value, TimeSpan min, TimeSpan max)
    {
        if (value < min || value > max)
        {
            errors.Add($"{name} must be between {min} and {max} (got {value}).");
        }
    }
}
