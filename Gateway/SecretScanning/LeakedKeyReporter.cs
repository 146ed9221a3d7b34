using Gateway.Domain;
using Gateway.Keys;

namespace Gateway.SecretScanning;

/// <summary>One token found in public, with where it was seen.</summary>
internal sealed record LeakReport(string Token, string? Type, string? Url, string? Source);

/// <summary>The partner format's per-token feedback: <c>token_hash</c> is the SHA-256 of the token as reported.</summary>
internal sealed record LeakFeedback(string TokenHash, string? TokenType, string Label, string? KeyId, LeakOutcome Outcome);

/// <summary>
/// Handles leaked tokens for the secret-scanning endpoint and the admin API alike: a token is ours only
/// when it is well formed, its checksum holds and a key has its hash; anything else never reaches the store.
/// Tokens are never logged or echoed, only their SHA-256.
/// </summary>
internal sealed class LeakedKeyReporter(KeyManager keys)
{
    public const int MaxTokens = 1000;

    public async Task<IReadOnlyList<LeakFeedback>> HandleAsync(IReadOnlyList<LeakReport> reports, LeakAction action, string actor, CancellationToken cancellationToken)
    {
        var results = new List<LeakFeedback>(reports.Count);
        foreach (var report in reports)
        {
            var tokenHash = HashValue.HexOf(report.Token);
            if (report.Token.Length > ApiKeyFormat.MaxLength || !ApiKeyFormat.IsWellFormed(report.Token))
            {
                results.Add(new LeakFeedback(tokenHash, report.Type, "false_positive", null, LeakOutcome.NotOurs));
                continue;
            }

            // For a well-formed key the hash of its UTF-8 bytes is the stored hash (keys are ASCII).
            var (outcome, key) = await keys.HandleLeakAsync(tokenHash, action, Trim(report.Url), Trim(report.Source), actor, cancellationToken);
            results.Add(new LeakFeedback(tokenHash, report.Type, outcome == LeakOutcome.NotOurs ? "false_positive" : "true_positive", key?.Id, outcome));
        }

        return results;
    }

    // Audit text from an outside report: bounded, printable.
    private static string? Trim(string? value)
    {
        if (string.IsNullOrWhiteSpace(value))
        {
            return null;
        }

        var clean = new string([.. value.Where(c => !char.IsControl(c)).Take(500)]);
        return clean.Length == 0 ? null : clean;
    }
}
