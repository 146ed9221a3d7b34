using System.Reflection;
using Gateway.Configuration;
using Gateway.Stores.Redis;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace Gateway.Tests.Stores;

/// <summary>
/// A key change whose announcement Redis does not take is kept for the background, whatever form the failure takes:
/// the change is stored, so the admin call that made it must not fail with it.
/// </summary>
public sealed class RedisKeyChangePublisherTests
{
    public static IEnumerable<TestCaseData> Failures() => RedisCallsTests.Failures();

    [TestCaseSource(nameof(Failures))]
    public async Task Publish_RedisCallFails_KeptForTheBackgroundNotThrown(Exception failure)
    {
        var redis = FailingRedis.Create(failure);
        using var publisher = new RedisKeyChangePublisher(redis, Options.Create(new GatewayOptions()), NullLogger<RedisKeyChangePublisher>.Instance);
        var failed = 0;
        publisher.PublishFailed += () => failed++;

        await publisher.PublishAsync(["hash-that-changed"], CancellationToken.None);

        Assert.Multiple(() =>
        {
            Assert.That(publisher.Undelivered, Is.EqualTo(1));
            Assert.That(failed, Is.EqualTo(1));
        });
    }

    /// <summary>A multiplexer whose subscriber's every publish fails with the given exception; nothing else is called.</summary>
    public class FailingRedis : DispatchProxy
    {
        private Exception _failure = null!;
        private object? _subscriber;

        public static IConnectionMultiplexer Create(Exception failure)
        {
            var redis = Create<IConnectionMultiplexer, FailingRedis>();
            var self = (FailingRedis)(object)redis;
            self._failure = failure;
            var subscriber = Create<ISubscriber, FailingRedis>();
            ((FailingRedis)(object)subscriber)._failure = failure;
            self._subscriber = subscriber;
            return redis;
        }

        protected override object? Invoke(MethodInfo? targetMethod, object?[]? args) => targetMethod?.Name switch
        {
            nameof(IConnectionMultiplexer.GetSubscriber) => _subscriber,
            nameof(ISubscriber.PublishAsync) => Task.FromException<long>(_failure),
            _ => throw new NotSupportedException(targetMethod?.Name),
        };
    }
}
