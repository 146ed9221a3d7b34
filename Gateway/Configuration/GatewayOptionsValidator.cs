using System.Net;
using System.Text.RegularExpressions;
using Gateway.Domain;
using Microsoft.Extensions.Options;

namespace Gateway.Configuration;

/// <summary>
/// Collects every problem in the <c>Gateway</c> section so an operator fixes them in one pass;
/// each message starts with the full setting name.
/// </summary>
internal sealed partial class GatewayOptionsValidator : IValidateOptions<GatewayOptions>
{
    public ValidateOptionsResult Validate(string? name, GatewayOptions options)
    {
        var errors = new List<string>();
        const string S = GatewayOptions.SectionName;

        if (!KeyEnvironments.IsValid(options.Environment))
        {
            errors.Add($"{S}:Environment must be one of production, staging, development (got '{options.Environment}').");
        }

        if (options.KeyPrefix is null || !KeyRules.IsValidKeyPrefix(options.KeyPrefix))
        {
            errors.Add($"{S}:KeyPrefix must match {KeyRules.KeyPrefixPattern} (got '{options.KeyPrefix}').");
        }

        if (string.IsNullOrWhiteSpace(options.Store.Redis) && string.IsNullOrWhiteSpace(options.Store.Path))
        {
            errors.Add($"{S}:Store:Path must be set when {S}:Store:Redis is empty.");
        }

        if (string.IsNullOrEmpty(options.Store.RedisPrefix) || options.Store.RedisPrefix.Contains('{') || options.Store.RedisPrefix.Contains('}'))
        {
            errors.Add($"{S}:Store:RedisPrefix must be non-empty and contain no braces (got '{options.Store.RedisPrefix}').");
        }

        Positive(errors, $"{S}:Store:Timeout", options.Store.Timeout);

        AdminOptionsValidation.Validate(errors, $"{S}:Admin", options.Admin);

        for (var i = 0; i < options.TrustedProxies.Count; i++)
        {
            if (!IsIpOrCidr(options.TrustedProxies[i]))
            {
                errors.Add($"{S}:TrustedProxies:{i} must be an IP address or CIDR (got '{options.TrustedProxies[i]}').");
            }
        }

        Limit(errors, $"{S}:RateLimits:Workspace", options.RateLimits.Workspace);
        Limit(errors, $"{S}:RateLimits:Ip", options.RateLimits.Ip);
        if (options.RateLimits.Ip is { MaxMemoryMB: < 1 or > 4096 } ip)
        {
            errors.Add($"{S}:RateLimits:Ip:MaxMemoryMB must be between 1 and 4096 (got {ip.MaxMemoryMB}).");
        }

        if (options.RateLimits.Ipv6PrefixLength is < 16 or > 128)
        {
            errors.Add($"{S}:RateLimits:Ipv6PrefixLength must be between 16 and 128 (got {options.RateLimits.Ipv6PrefixLength}).");
        }

        foreach (var (policy, limit) in options.RateLimits.Policies)
        {
            Limit(errors, $"{S}:RateLimits:Policies:{policy}", limit);
        }

        foreach (var (planName, plan) in options.Plans)
        {
            if (plan is null || (plan.RateLimit is null && plan.Quota is null))
            {
                errors.Add($"{S}:Plans:{planName} must set RateLimit, Quota or both.");
                continue;
            }

            if (plan.RateLimit is not null)
            {
                Limit(errors, $"{S}:Plans:{planName}:RateLimit", plan.RateLimit);
            }

            if (plan.Quota is { } quota)
            {
                if (quota.Limit is < 1 or > QuotaRules.MaxLimit)
                {
                    errors.Add($"{S}:Plans:{planName}:Quota:Limit must be between 1 and {QuotaRules.MaxLimit} (got {quota.Limit}).");
                }

                if (!QuotaPeriods.TryParse(quota.Period, out _))
                {
                    errors.Add($"{S}:Plans:{planName}:Quota:Period must be day or month (got '{quota.Period}').");
                }
            }
        }

        for (var i = 0; i < options.Scopes.Count; i++)
        {
            if (options.Scopes[i] is not { } scope || !ScopeRegex().IsMatch(scope))
            {
                errors.Add($"{S}:Scopes:{i} must match ^[A-Za-z0-9_.:-]{{1,64}}$ (got '{options.Scopes[i]}').");
            }
        }

        Positive(errors, $"{S}:Cache:FreshFor", options.Cache.FreshFor);
        Positive(errors, $"{S}:Cache:NegativeFor", options.Cache.NegativeFor);
        if (options.Cache.StaleFor < options.Cache.FreshFor)
        {
            errors.Add($"{S}:Cache:StaleFor must be at least {S}:Cache:FreshFor.");
        }

        if (options.Cache.MaxEntries < 1)
        {
            errors.Add($"{S}:Cache:MaxEntries must be at least 1.");
        }

        Positive(errors, $"{S}:Usage:FlushInterval", options.Usage.FlushInterval);
        Positive(errors, $"{S}:Usage:CompactionInterval", options.Usage.CompactionInterval);
        if (options.Usage.MinuteResolutionFor < TimeSpan.FromHours(1))
        {
            errors.Add($"{S}:Usage:MinuteResolutionFor must be at least 01:00:00 (got {options.Usage.MinuteResolutionFor}).");
        }

        if (options.Usage.Retention < TimeSpan.FromHours(1) || options.Usage.Retention < options.Usage.MinuteResolutionFor)
        {
            errors.Add($"{S}:Usage:Retention must be at least 01:00:00 and at least {S}:Usage:MinuteResolutionFor (got {options.Usage.Retention}).");
        }

        for (var i = 0; i < options.StripHeaders.Count; i++)
        {
            if (options.StripHeaders[i] is not { } header || !HeaderNameRegex().IsMatch(header))
            {
                errors.Add($"{S}:StripHeaders:{i} must be an HTTP header name (RFC 9110 token characters, got '{options.StripHeaders[i]}').");
            }
        }

        // The demo upstream listens on it: the listeners' rules, or Kestrel refuses it naming no setting.
        if (options.Demo.Enabled && SettingsShapeValidator.UrlError(options.Demo.Url ?? "") is { } demoUrl)
        {
            errors.Add($"{S}:Demo:Url {demoUrl} (got '{options.Demo.Url}').");
        }

        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }

    internal static void Limit(List<string> errors, string name, WindowLimitOptions? limit)
    {
        if (limit is null)
        {
            errors.Add($"{name} must be set.");
            return;
        }

        if (limit.PermitLimit < 1)
        {
            errors.Add($"{name}:PermitLimit must be at least 1 (got {limit.PermitLimit}).");
        }

        if (!KeyRules.IsValidWindow(limit.Window))
        {
            errors.Add($"{name}:Window must be {KeyRules.WindowRange} (got {limit.Window}).");
        }
    }

    private static void Positive(List<string> errors, string name, TimeSpan value)
    {
        if (value <= TimeSpan.Zero)
        {
            errors.Add($"{name} must be positive (got {value}).");
        }
    }

    internal static bool IsIpOrCidr(string? value) =>
        value is not null && (IPAddress.TryParse(value, out _) || IPNetwork.TryParse(value, out _));

    // RFC 9110 section 5.6.2 token.
    [GeneratedRegex("^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,128}$")]
    private static partial Regex HeaderNameRegex();

    [GeneratedRegex("^[A-Za-z0-9_.:-]{1,64}$|^\\*$")]
    private static partial Regex ScopeRegex();
}
