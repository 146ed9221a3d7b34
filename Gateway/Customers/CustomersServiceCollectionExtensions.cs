using Gateway.Stores;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace Gateway.Customers;

internal static class CustomersServiceCollectionExtensions
{
    /// <summary>Customers: their store (the same kind as the key store) and the request path's cached view.</summary>
    public static IServiceCollection AddGatewayCustomers(this IServiceCollection services)
    {
        services.TryAddFeatureStore<ICustomerStore, SqliteCustomerStore, RedisCustomerStore>();

        services.TryAddSingleton<CustomerDirectory>();
        return services;
    }
}
