using System.Text.Json;
using System.Text.RegularExpressions;

namespace Gateway.Tests.Common;

/// <summary>
/// The parts of the repository's Dockerfile that decide how the runtime image starts: the final stage's
/// ENV, WORKDIR, EXPOSE, ENTRYPOINT and HEALTHCHECK, read from the file so tests follow it.
/// </summary>
public sealed partial class Dockerfile
{
    public Dictionary<string, string> Environment { get; } = new(StringComparer.Ordinal);

    public string? WorkDir { get; private set; }

    public List<int> Exposed { get; } = [];

    public string[] Entrypoint { get; private set; } = [];

    public string[] HealthCheck { get; private set; } = [];

    public string? StopSignal { get; private set; }

    public static Dockerfile Load() => Parse(RepositoryFiles.Read("Dockerfile"));

    public static Dockerfile Parse(string text)
    {
        // Join continuation lines, drop comments, keep only the last stage (the runtime image).
        var lines = ContinuationRegex().Replace(text, " ").Split('\n')
            .Select(l => l.Trim())
            .Where(l => l.Length > 0 && !l.StartsWith('#'))
            .ToList();
        var lastFrom = lines.FindLastIndex(l => l.StartsWith("FROM ", StringComparison.OrdinalIgnoreCase));
        var result = new Dockerfile();
        foreach (var line in lines.Skip(lastFrom + 1))
        {
            var space = line.IndexOf(' ', StringComparison.Ordinal);
            var (instruction, rest) = (line[..space].ToUpperInvariant(), line[(space + 1)..].Trim());
            switch (instruction)
            {
                case "ENV":
                    foreach (Match pair in EnvPairRegex().Matches(rest))
                    {
                        result.Environment[pair.Groups["key"].Value] = pair.Groups["value"].Value.Trim('"');
                    }

                    break;
                case "WORKDIR":
                    result.WorkDir = rest;
                    break;
                case "EXPOSE":
                    result.Exposed.AddRange(rest.Split(' ', StringSplitOptions.RemoveEmptyEntries).Select(p => int.Parse(p.Split('/')[0], System.Globalization.CultureInfo.InvariantCulture)));
                    break;
                case "ENTRYPOINT":
                    result.Entrypoint = JsonSerializer.Deserialize<string[]>(rest)!;
                    break;
                case "HEALTHCHECK":
                    var cmd = rest.IndexOf("CMD ", StringComparison.Ordinal);
                    result.HealthCheck = JsonSerializer.Deserialize<string[]>(rest[(cmd + 4)..])!;
                    break;
                case "STOPSIGNAL":
                    result.StopSignal = rest;
                    break;
            }
        }

        return result;
    }

    [GeneratedRegex(@"\\\r?\n")]
    private static partial Regex ContinuationRegex();

    [GeneratedRegex(@"(?<key>[A-Za-z_][A-Za-z0-9_]*)=(?<value>""[^""]*""|\S+)")]
    private static partial Regex EnvPairRegex();
}
