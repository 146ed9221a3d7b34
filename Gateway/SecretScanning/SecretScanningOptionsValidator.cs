using Microsoft.Extensions.Options;

namespace Gateway.SecretScanning;

/// <summary>Stops start-up on a report endpoint that could not verify a report, or would answer on a path it cannot own.</summary>
internal sealed class SecretScanningOptionsValidator : IValidateOptions<SecretScanningOptions>
{
    public ValidateOptionsResult Validate(string? name, SecretScanningOptions options)
    {
        var errors = new List<string>();
        var scanning = options;
        const string S = SecretScanningOptions.SectionName;

        if (!LeakActions.TryParse(scanning.Action, out _))
        {
            errors.Add($"{S}:Action must be revoke, deactivate or report (got '{scanning.Action}').");
        }

        if (string.IsNullOrEmpty(scanning.Path) || scanning.Path[0] != '/' || scanning.Path.IndexOfAny(['{', '}', '*', '?', '#', ' ']) >= 0 || scanning.Path.Length > 200)
        {
            errors.Add($"{S}:Path must be a literal path starting with '/' (got '{scanning.Path}').");
        }

        foreach (var (id, pem) in scanning.PublicKeys ?? [])
        {
            if (!PublicKeyRing.TryLoad(pem, out var key))
            {
                errors.Add($"{S}:PublicKeys:{id} must be a PEM ECDSA P-256 public key.");
            }

            key?.Dispose();
        }

        if (scanning.Enabled && (scanning.PublicKeys is null || scanning.PublicKeys.Count == 0))
        {
            errors.Add($"{S}:PublicKeys must hold at least one key when {S}:Enabled is true (reports could never be verified).");
        }

        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }
}
