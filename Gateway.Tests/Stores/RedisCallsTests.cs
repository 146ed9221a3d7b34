using Gateway.Stores;
using Gateway.Stores.Redis;
using StackExchange.Redis;

namespace Gateway.Tests.Stores;

/// <summary>What a Redis call's failure becomes: the store's "could not answer", except the caller's own cancellation.</summary>
public sealed class RedisCallsTests
{
    public static IEnumerable<TestCaseData> Failures()
    {
        yield return new TestCaseData(new RedisConnectionException(ConnectionFailureType.SocketFailure, "down")).SetArgDisplayNames("connection");
        yield return new TestCaseData(new RedisTimeoutException("slow", CommandStatus.Sent)).SetArgDisplayNames("timeout");
        yield return new TestCaseData(new TaskCanceledException()).SetArgDisplayNames("cancelled by the client library");
        yield return new TestCaseData(new InvalidOperationException("Reading is not allowed after reader was completed.")).SetArgDisplayNames("pipe completed");
        yield return new TestCaseData(new ObjectDisposedException("multiplexer")).SetArgDisplayNames("disposed");
    }

    [TestCaseSource(nameof(Failures))]
    public void Guard_RedisCallFails_StoreUnavailable(Exception failure)
    {
        var thrown = Assert.ThrowsAsync<StoreUnavailableException>(() => RedisCalls.Guard(() => Task.FromException<bool>(failure)));
        Assert.That(thrown!.InnerException, Is.SameAs(failure));
        Assert.That(StoreResilience.IsUnavailable(thrown), Is.True);
    }

    [Test]
    public void Guard_CallersOwnTokenCancelled_StaysACancellation()
    {
        using var cancelled = new CancellationTokenSource();
        cancelled.Cancel();
        var pending = new TaskCompletionSource<bool>();

        Assert.That(async () => await RedisCalls.Guard(() => pending.Task, cancelled.Token), Throws.InstanceOf<OperationCanceledException>());
    }

    [Test]
    public void Guard_AnyOtherError_PassesThrough() =>
        Assert.ThrowsAsync<FormatException>(() => RedisCalls.Guard(() => Task.FromException<bool>(new FormatException())));
}
