using System.Diagnostics;
using Gateway.Auth;
using Gateway.Domain;
using Gateway.Http;
using Yarp.ReverseProxy.Forwarder;

namespace Gateway.RequestLog;

/// <summary>
/// Hands a <see cref="RequestRecord"/> to <see cref="RequestLogWriter"/> once a request is answered, when the request
/// reached authentication (a key was found, or authentication refused it). Requests refused by the IP limit before
/// authentication, and anonymous routes, are not logged. Never the key (also not one in the path: <see cref="SecretRedaction"/>),
/// the query string or a body.
/// </summary>
internal sealed class RequestLogObserver(RequestLogWriter writer, ClientIpResolver ips) : IProxyRequestObserver
{
    private const int ClientClosedRequest = 499;

    public bool IsEnabled => writer.IsEnabled;

    public void Starting(HttpContext context, in ProxyRequestStart start)
    {
    }

    public void Completed(HttpContext context, in ProxyRequestStart start)
    {
        var key = context.Feature<IApiKeyFeature>()?.Key ?? context.Feature<RefusedKeyFeature>()?.Key;
        var code = context.Feature<ProblemCodeFeature>()?.Code;
        if (key is null && !IsUnauthenticatedRefusal(code))
        {
            return;
        }

        var response = context.Response;
        var status = context.RequestAborted.IsCancellationRequested && !response.HasStarted ? ClientClosedRequest : response.StatusCode;
        // A response that started carries the upstream's status even when its body then failed (a reset, a stall):
        // the upstream did answer, and the log says with what.
        var proxied = context.ProxyFeature().ProxiedDestination is not null && (response.HasStarted || context.Feature<IForwarderErrorFeature>() is null);
        writer.Write(new PendingRequestRecord(
            start.Time,
            context.TraceIdentifier,
            key?.OrgId,
            key?.Id,
            key?.CustomerId,
            context.Request.Method,
            // A client may put a key in the path: the log keeps where it was, never the key.
            SecretRedaction.Redact(context.Request.Path.Value ?? "/"),
            context.ProxyFeature().Route.Config.RouteId,
            status,
            code,
            Math.Round(Stopwatch.GetElapsedTime(start.Timestamp).TotalMilliseconds, 3),
            AddressText(ips.ResolveAddress(context)),
            proxied ? status : null));
    }

    // The last address this thread formatted: a connection's requests come from one address, and formatting it
    // again made a new string per request.
    [ThreadStatic]
    private static (System.Net.IPAddress Address, string Text)? t_lastAddress;

    private static string AddressText(System.Net.IPAddress address)
    {
        if (t_lastAddress is { } last && last.Address.Equals(address))
        {
            return last.Text;
        }

        var text = address.ToString();
        t_lastAddress = (address, text);
        return text;
    }

    /// <summary>Refusals by authentication before an organization is known: no key, an unknown or malformed key, no store.</summary>
    private static bool IsUnauthenticatedRefusal(string? code) =>
        code is not null && (code == ProblemCodes.MissingKey.Code || code == ProblemCodes.InvalidKey.Code || code == ProblemCodes.StoreUnavailable.Code);
}
