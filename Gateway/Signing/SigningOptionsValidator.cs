using System.Text.RegularExpressions;
using Microsoft.Extensions.Options;

namespace Gateway.Signing;

/// <summary>Stops start-up on a signing secret an upstream could not use or an attacker could guess, or on a version or digest limit it does not know.</summary>
internal sealed partial class SigningOptionsValidator : IValidateOptions<SigningOptions>
{
    /// <summary>32 characters: a random secret of that length carries at least the 128 bits HMAC-SHA256 needs.</summary>
    public const int MinSecretLength = 32;

    /// <summary>16 MiB: each request up to the limit is buffered whole in memory before it is sent.</summary>
    public const long MaxDigestLimit = 16 * 1024 * 1024;

    public ValidateOptionsResult Validate(string? name, SigningOptions options)
    {
        var errors = new List<string>();
        var secrets = options.Secrets ?? [];
        var ids = new HashSet<string>(StringComparer.Ordinal);
        for (var i = 0; i < secrets.Count; i++)
        {
            var setting = $"{SigningOptions.SectionName}:Secrets:{i}";
            var secret = secrets[i];
            if (secret?.Id is not { } id || !IdRegex().IsMatch(id))
            {
                errors.Add($"{setting}:Id must match ^[A-Za-z0-9._-]{{1,64}}$ (got '{secret?.Id}').");
            }
            else if (!ids.Add(id))
            {
                errors.Add($"{setting}:Id '{id}' is used by another secret.");
            }

            // The secret itself is never echoed: start-up output ends up in logs.
            if (secret?.Secret is not { Length: >= MinSecretLength })
            {
                errors.Add($"{setting}:Secret must be at least {MinSecretLength} characters.");
            }
        }

        var signing = options;
        if (!IdentitySigner.TryParseVersions(signing.Versions, out _, out _))
        {
            errors.Add($"{SigningOptions.SectionName}:Versions must be v1, v2 or v1,v2 (got '{signing.Versions}').");
        }

        if (signing.MaxDigestBytes is < 0 or > MaxDigestLimit)
        {
            errors.Add($"{SigningOptions.SectionName}:MaxDigestBytes must be between 0 and {MaxDigestLimit} (got {signing.MaxDigestBytes}).");
        }

        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }

    // No ',' or '=': the id is a value inside the X-Gateway-Signature header.
    [GeneratedRegex("^[A-Za-z0-9._-]{1,64}$")]
    private static partial Regex IdRegex();
}
