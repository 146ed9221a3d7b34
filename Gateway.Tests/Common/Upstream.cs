using WireMock.Logging;
using WireMock.RequestBuilders;
using WireMock.ResponseBuilders;
using WireMock.Server;

namespace Gateway.Tests.Common;

/// <summary>A WireMock.Net upstream on a real loopback port that answers 200 to everything and records what it received.</summary>
public sealed class Upstream : IDisposable
{
    private Upstream(WireMockServer server) => Server = server;

    public WireMockServer Server { get; }

    public string Url => Server.Url! + "/";

    public IReadOnlyList<ILogEntry> Received => Server.LogEntries.ToList();

    public static Upstream Start()
    {
        var server = WireMockServer.Start();
        server.Given(Request.Create().UsingAnyMethod()).RespondWith(Response.Create().WithStatusCode(200).WithBody("upstream ok"));
        return new Upstream(server);
    }

    /// <summary>Headers of the only request received, case-insensitive.</summary>
    public IDictionary<string, string> SingleRequestHeaders()
    {
        var entries = Received;
        Assert.That(entries, Has.Count.EqualTo(1), "the upstream should have received exactly one request");
        var headers = entries[0].RequestMessage.Headers!;
        return headers.ToDictionary(h => h.Key, h => string.Join(",", h.Value), StringComparer.OrdinalIgnoreCase);
    }

    public void Reset() => Server.ResetLogEntries();

    public void Dispose() => Server.Stop();
}
