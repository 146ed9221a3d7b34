using Gateway.Http;
using Microsoft.AspNetCore.HostFiltering;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Primitives;

namespace Gateway.Hosting;

/// <summary>
/// The root <c>AllowedHosts</c> setting, checked the way ASP.NET Core's host filtering checks it (the same options,
/// the same matching), in its place: that middleware answers a <c>Host</c> it refuses with an HTML page, and every
/// error the gateway answers itself is problem+json with a <c>code</c>. Runs first on both listeners, before anything
/// looks at the request, and takes no permit of the IP limit, like Kestrel's own refusals of a malformed request.
/// </summary>
internal sealed class AllowedHostsMiddleware(RequestDelegate next, IOptionsMonitor<HostFilteringOptions> options)
{
    private volatile Rules? _rules;

    public Task InvokeAsync(HttpContext context)
    {
        var rules = Current();
        if (rules.AnyHost)
        {
            return next(context);
        }

        var host = context.Request.Headers.Host.ToString();
        var allowed = host.Length == 0
            ? rules.AllowEmpty || HttpProtocol.IsHttp10(context.Request.Protocol)
            : rules.AnyNonEmpty || HostString.MatchesAny(new StringSegment(host), rules.Hosts);
        return allowed
            ? next(context)
            : GatewayProblem.WriteAsync(context, ProblemCodes.BadRequest, "The Host header names a host this gateway does not serve (AllowedHosts).");
    }

    private Rules Current()
    {
        var current = options.CurrentValue;
        var rules = _rules;
        if (rules is null || !ReferenceEquals(rules.Source, current))
        {
            rules = new Rules(current);
            _rules = rules;
        }

        return rules;
    }

    /// <summary>One reading of the options: rebuilt only when the configuration reloads.</summary>
    private sealed class Rules
    {
        public Rules(HostFilteringOptions source)
        {
            Source = source;
            AllowEmpty = source.AllowEmptyHosts;
            var hosts = new List<StringSegment>();
            foreach (var entry in source.AllowedHosts)
            {
                // As ASP.NET Core reads them: Unicode names in their punycode form, and "*" (or an any-address) for any host.
                var host = new HostString(HostString.FromUriComponent(entry).Value);
                if (host.Host is "*" or "[::]" or "0.0.0.0")
                {
                    AnyNonEmpty = true;
                    hosts.Clear();
                    break;
                }

                if (!hosts.Contains(host.Value, StringSegmentComparer.OrdinalIgnoreCase))
                {
                    hosts.Add(host.Value);
                }
            }

            // No AllowedHosts at all: host filtering is off, as in ASP.NET Core.
            AnyHost = source.AllowedHosts.Count == 0 || (AnyNonEmpty && AllowEmpty);
            Hosts = hosts;
        }

        public HostFilteringOptions Source { get; }

        public bool AnyHost { get; }

        public bool AnyNonEmpty { get; }

        public bool AllowEmpty { get; }

        public IList<StringSegment> Hosts { get; }
    }
}
