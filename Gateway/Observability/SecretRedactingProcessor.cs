using System.Diagnostics;
using Gateway.Domain;
using OpenTelemetry;

namespace Gateway.Observability;

/// <summary>
/// Takes keys and admin tokens out of a finished span's name and string tags before the exporters added after it
/// see the span. The gateway's own spans carry none, but a client may put its key in the path, and the spans of
/// others carry the path as sent: HttpClient's <c>url.full</c> on the call to the upstream, ASP.NET Core
/// instrumentation's <c>url.path</c> when a host adds it.
/// </summary>
internal sealed class SecretRedactingProcessor : BaseProcessor<Activity>
{
    public override void OnEnd(Activity data)
    {
        List<KeyValuePair<string, string>>? redacted = null;
        foreach (ref readonly var tag in data.EnumerateTagObjects())
        {
            if (tag.Value is string text && SecretRedaction.Redact(text) is var clean && !ReferenceEquals(clean, text))
            {
                (redacted ??= []).Add(new(tag.Key, clean));
            }
        }

        foreach (var (name, value) in redacted ?? [])
        {
            data.SetTag(name, value);
        }

        var displayName = SecretRedaction.Redact(data.DisplayName);
        if (!ReferenceEquals(displayName, data.DisplayName))
        {
            data.DisplayName = displayName;
        }
    }
}
