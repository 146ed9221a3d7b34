using Microsoft.Extensions.Options;

namespace Gateway.AccessLog;

/// <summary>Settings under <c>Gateway:AccessLog</c>: one line per proxied request.</summary>
public sealed class AccessLogOptions
{
    public const string SectionName = "Gateway:AccessLog";

    /// <summary>Off by default: the pipeline then has no access-log stage at all.</summary>
    public bool Enabled { get; set; }

    /// <summary><c>text</c> (key=value pairs) or <c>json</c> (one JSON object per line).</summary>
    public string Format { get; set; } = "text";

    /// <summary>Share of requests logged, from 0 to 1.</summary>
    public double SampleRate { get; set; } = 1.0;

    /// <summary>Log every response with status 400 or above, whatever <see cref="SampleRate"/> says.</summary>
    public bool AlwaysLogErrors { get; set; } = true;

    /// <summary>Entries waiting for the writer; when full, new entries are dropped and counted.</summary>
    public int BufferSize { get; set; } = 10_000;
}

internal sealed class AccessLogOptionsValidator : IValidateOptions<AccessLogOptions>
{
    public ValidateOptionsResult Validate(string? name, AccessLogOptions options)
    {
        const string S = AccessLogOptions.SectionName;
        var errors = new List<string>();
        if (options.Format is not ("text" or "json"))
        {
            errors.Add($"{S}:Format must be text or json (got '{options.Format}').");
        }

        if (!(options.SampleRate is >= 0 and <= 1))
        {
            errors.Add($"{S}:SampleRate must be between 0 and 1 (got {options.SampleRate.ToString(System.Globalization.CultureInfo.InvariantCulture)}).");
        }

        if (options.BufferSize is < 1 or > 1_000_000)
        {
            errors.Add($"{S}:BufferSize must be between 1 and 1000000 (got {options.BufferSize}).");
        }

        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }
}
