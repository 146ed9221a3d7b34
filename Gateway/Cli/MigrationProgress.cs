namespace Gateway.Cli;

/// <summary>
/// Where <c>migrate-store</c> is in its steps, so a copy that Redis stopped part-way can say what it copied and what it
/// did not: a half-copied store looked complete, and gateways moved to it let keys past quotas it did not have yet.
/// </summary>
internal sealed class MigrationProgress
{
    public const string Counters = "quota and credit counters";

    public const string Tokens = "admin tokens";

    public const string CustomersAndWebhooks = "customers and webhooks with their deliveries";

    public const string Keys = "organizations, keys and audit logs";

    /// <summary>The steps in the order migrate-store takes them.</summary>
    private static readonly string[] Steps = [Counters, Tokens, CustomersAndWebhooks, Keys];

    private int _step = -1;
    private string? _org;

    public void Start(string step)
    {
        _step = Array.IndexOf(Steps, step);
        _org = null;
    }

    /// <summary>The organization the current step is at.</summary>
    public void At(string orgId) => _org = orgId;

    /// <summary>What was copied and what was not; null before the first step began.</summary>
    public string? Describe()
    {
        if (_step < 0)
        {
            return null;
        }

        var current = Steps[_step] + (_org is null ? "" : $" (at organization '{_org}')");
        var done = _step == 0 ? "nothing" : string.Join(", ", Steps[.._step]);
        var left = string.Join(", ", Steps[(_step + 1)..]);
        return $"The copy stopped part-way, while copying {current}. Copied before: {done}. Not copied: the rest of that step"
            + (left.Length == 0 ? "." : $", and {left}.");
    }
}
