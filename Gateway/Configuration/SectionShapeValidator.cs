using Microsoft.Extensions.Options;

namespace Gateway.Configuration;

/// <summary>
/// <see cref="SettingsShape"/> for a feature's own section (<c>Gateway:Signing</c>, <c>Gateway:Webhooks</c>, …): at start
/// a list or object in the wrong shape stops the gateway naming the setting, on a reload it is refused (event 1010).
/// </summary>
internal sealed class SectionShapeValidator<TOptions>(IConfiguration configuration, string section) : IValidateOptions<TOptions>
    where TOptions : class
{
    public ValidateOptionsResult Validate(string? name, TOptions options)
    {
        var errors = new List<string>();
        SettingsShape.Check(configuration.GetSection(section), typeof(TOptions), errors);
        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }
}
