using Gateway.Keys;

namespace Gateway.SecretScanning;

internal static class LeakActions
{
    /// <summary>The configured action; validated at start, so anything unreadable here means the default.</summary>
    public static LeakAction Configured(string? value) => TryParse(value, out var action) ? action : LeakAction.Revoke;

    public static bool TryParse(string? value, out LeakAction action)
    {
        switch (value?.Trim().ToLowerInvariant())
        {
            case "revoke":
                action = LeakAction.Revoke;
                return true;
            case "deactivate":
                action = LeakAction.Deactivate;
                return true;
            case "report":
                action = LeakAction.Report;
                return true;
            default:
                action = LeakAction.Revoke;
                return false;
        }
    }
}
