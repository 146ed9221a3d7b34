namespace Gateway.Tests.Common;

/// <summary>
/// Base of the fixtures whose tests run gateways in front of one WireMock upstream: started once before
/// the fixture's own one-time set-up (NUnit runs a base class's first) and stopped after its tear-down.
/// </summary>
public abstract class UpstreamFixture
{
    protected Upstream Upstream { get; private set; } = null!;

    [OneTimeSetUp]
    public void StartUpstream() => Upstream = Upstream.Start();

    [OneTimeTearDown]
    public void StopUpstream() => Upstream.Dispose();
}
