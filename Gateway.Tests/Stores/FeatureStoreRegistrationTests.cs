using Gateway.AdminSessions;
using Gateway.Customers;
using Gateway.Operators;
using Gateway.RateLimiting;
using Gateway.RequestLog;
using Gateway.Stores;
using Gateway.Stores.Redis;
using Gateway.Usage;
using Gateway.Webhooks;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;

namespace Gateway.Tests.Stores;

/// <summary>
/// Which store runs is decided once, by AddGatewayStores: every feature's own store follows it, with no flag
/// of its own. Read from the registrations (nothing is resolved, so no store is opened or connected).
/// </summary>
public sealed class FeatureStoreRegistrationTests
{
    [TestCase(null, typeof(SqliteCustomerStore), typeof(SqliteOperatorTokenStore), typeof(SqliteUsageStore), typeof(SqliteRequestLogStore), typeof(SqliteWebhookStore), typeof(PrivateDirectoryXmlRepository))]
    [TestCase("localhost:1", typeof(RedisCustomerStore), typeof(RedisOperatorTokenStore), typeof(RedisUsageStore), typeof(RedisRequestLogStore), typeof(RedisWebhookStore), typeof(RedisSessionKeyRing))]
    public void AddGateway_StoreKind_EveryFeatureRegistersThatKindsStore(string? redis, Type customers, Type operators, Type usage, Type requestLog, Type webhooks, Type keyRing)
    {
        var services = Features(redis);

        Assert.Multiple(() =>
        {
            Assert.That(Implementation<ICustomerStore>(services), Is.EqualTo(customers));
            Assert.That(Implementation<IOperatorTokenStore>(services), Is.EqualTo(operators));
            Assert.That(Implementation<IUsageStore>(services), Is.EqualTo(usage));
            Assert.That(Implementation<IRequestLogStore>(services), Is.EqualTo(requestLog));
            Assert.That(Implementation<IWebhookStore>(services), Is.EqualTo(webhooks));
            Assert.That(Implementation<ISessionKeyRing>(services), Is.EqualTo(keyRing));
        });
    }

    [Test]
    public void AddGateway_Redis_QuotasLeasedThroughTheSharedQuotaStore_NoLocalFlusher()
    {
        var services = Features("localhost:1");

        Assert.That(Implementation<IQuotaCounter>(services), Is.EqualTo(typeof(RedisQuotaCounter)));
        Assert.That(Implementation<ISharedQuotaStore>(services), Is.EqualTo(typeof(RedisSharedQuotaStore)));
        Assert.That(services.Any(d => d.ServiceType == typeof(QuotaCounterFlusher) || d.ServiceType == typeof(IQuotaCounterStore)), Is.False);
    }

    [Test]
    public void AddGateway_Sqlite_QuotasCountedHereAndFlushed_NoSharedStore()
    {
        var services = Features(null);

        Assert.That(Implementation<IQuotaCounterStore>(services), Is.EqualTo(typeof(SqliteQuotaCounterStore)));
        Assert.That(services.Any(d => d.ServiceType == typeof(QuotaCounterFlusher)), Is.True);
        Assert.That(services.Any(d => d.ServiceType == typeof(ISharedQuotaStore) || d.ServiceType == typeof(ISharedLimitStore)), Is.False);
    }

    [Test]
    public void TryAddFeatureStore_ServiceRegisteredBefore_IsKept()
    {
        var services = new ServiceCollection();
        services.AddSingleton<ICustomerStore, SqliteCustomerStore>();
        services.AddGatewayStores("localhost:1");

        services.AddGatewayCustomers();

        Assert.That(services.Where(d => d.ServiceType == typeof(ICustomerStore)).Select(d => d.ImplementationType), Is.EqualTo(new[] { typeof(SqliteCustomerStore) }));
    }

    [Test]
    public void TryAddFeatureStore_BeforeAddGatewayStores_Throws()
    {
        var services = new ServiceCollection();

        Assert.That(() => services.AddGatewayCustomers(), Throws.InvalidOperationException.With.Message.Contains("AddGatewayStores"));
    }

    private static ServiceCollection Features(string? redis)
    {
        var configuration = new ConfigurationBuilder().Build();
        var services = new ServiceCollection();
        services.AddGatewayStores(redis);
        services.AddGatewayCustomers();
        services.AddGatewayQuotas();
        services.AddGatewayUsage();
        services.AddGatewayOperators();
        services.AddGatewayAdminSessions(configuration);
        services.AddGatewayRequestLog(configuration);
        services.AddGatewayWebhooks(configuration);
        return services;
    }

    private static Type? Implementation<T>(IServiceCollection services) =>
        services.Single(d => d.ServiceType == typeof(T) && !d.IsKeyedService).ImplementationType;
}
