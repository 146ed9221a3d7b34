using System.Security.Cryptography;
using System.Text;
using WireMock;
using WireMock.RequestBuilders;
using WireMock.ResponseBuilders;
using WireMock.Server;

namespace Gateway.Tests.Webhooks;

/// <summary>A WireMock.Net webhook receiver on a real loopback port that fails the first <c>FailFirst</c> posts (500) and then accepts.</summary>
internal sealed class WebhookReceiver : IDisposable
{
    private int _posts;

    public WebhookReceiver(int failFirst = 0)
    {
        FailFirst = failFirst;
        Server = WireMockServer.Start();
        Server.Given(Request.Create().WithPath("/hook").UsingPost())
            .RespondWith(Response.Create().WithCallback(_ => new ResponseMessage { StatusCode = Interlocked.Increment(ref _posts) <= FailFirst ? 500 : 204 }));
    }

    public WireMockServer Server { get; }

    /// <summary>How many posts fail before the receiver accepts; int.MaxValue for a receiver that never accepts.</summary>
    public int FailFirst { get; set; }

    public int Port => Server.Port;

    public string Url => $"http://127.0.0.1:{Server.Port}/hook";

    public IReadOnlyList<Received> Posts => Server.LogEntries
        .Where(e => e.RequestMessage.Path == "/hook")
        .Select(e => new Received(
            e.RequestMessage.Headers!.ToDictionary(h => h.Key, h => string.Join(",", h.Value), StringComparer.OrdinalIgnoreCase),
            e.RequestMessage.Body ?? "",
            e.ResponseMessage.StatusCode is int s ? s : Convert.ToInt32(e.ResponseMessage.StatusCode, System.Globalization.CultureInfo.InvariantCulture)))
        .ToList();

    public void Dispose() => Server.Stop();

    internal sealed record Received(IDictionary<string, string> Headers, string Body, int Status)
    {
        public string Id => Headers["webhook-id"];
    }

    /// <summary>
    /// The Standard Webhooks check, written from the specification (not the gateway's code): HMAC-SHA256 over
    /// "{webhook-id}.{webhook-timestamp}.{body}" keyed by the base64-decoded secret after "whsec_"; the header holds
    /// space-separated "v1,{base64}" signatures, one of which must match.
    /// </summary>
    public static bool Verify(string secret, Received post)
    {
        var key = Convert.FromBase64String(secret["whsec_".Length..]);
        var signed = Encoding.UTF8.GetBytes(post.Headers["webhook-id"] + "." + post.Headers["webhook-timestamp"] + "." + post.Body);
        using var hmac = new HMACSHA256(key);
        var expected = "v1," + Convert.ToBase64String(hmac.ComputeHash(signed));
        return post.Headers["webhook-signature"].Split(' ').Any(s => CryptographicOperations.FixedTimeEquals(Encoding.ASCII.GetBytes(s), Encoding.ASCII.GetBytes(expected)));
    }
}
