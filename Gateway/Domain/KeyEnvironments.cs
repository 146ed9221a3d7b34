namespace Gateway.Domain;

/// <summary>The environments a key can be bound to and the tag each one carries inside the key string.</summary>
internal static class KeyEnvironments
{
    public const string Production = "production";
    public const string Staging = "staging";
    public const string Development = "development";

    public static readonly IReadOnlyList<string> All = [Production, Staging, Development];

    public static bool IsValid(string? environment) =>
        environment is Production or Staging or Development;

    public static string ToTag(string environment) => environment switch
    {
        Production => "live",
        Staging => "stage",
        Development => "dev",
        _ => throw new ArgumentOutOfRangeException(nameof(environment), environment, "Unknown environment."),
    };

    public static string? FromTag(ReadOnlySpan<char> tag) => tag switch
    {
        "live" => Production,
        "stage" => Staging,
        "dev" => Development,
        _ => null,
    };
}
