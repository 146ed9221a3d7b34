using Gateway.Configuration;
using Microsoft.Extensions.Options;

namespace Gateway.Stores.Redis;

/// <summary>Checks <c>Store:RedisCaFile</c> at start, next to the other settings (their failures are reported together).</summary>
internal sealed class RedisCaFileValidator : IValidateOptions<GatewayOptions>
{
    public ValidateOptionsResult Validate(string? name, GatewayOptions options)
    {
        const string Setting = GatewayOptions.SectionName + ":Store:RedisCaFile";
        if (string.IsNullOrWhiteSpace(options.Store.RedisCaFile))
        {
            return ValidateOptionsResult.Success;
        }

        if (string.IsNullOrWhiteSpace(options.Store.Redis))
        {
            return ValidateOptionsResult.Fail($"{Setting} is only used with {GatewayOptions.SectionName}:Store:Redis; set both or neither.");
        }

        return RedisCertificateAuthority.Load(options.Store.RedisCaFile) is { Error: { } error }
            ? ValidateOptionsResult.Fail($"{Setting} {error} (got '{options.Store.RedisCaFile}').")
            : ValidateOptionsResult.Success;
    }
}
