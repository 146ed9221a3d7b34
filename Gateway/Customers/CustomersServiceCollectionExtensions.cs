using Microsoft.Extensions.DependencyInjection.Extensions;

namespace Gateway.Customers;

internal static class CustomersServiceCollectionExtensions
{
    /// <summary>Customers: their store (the same kind as the key store) and the request path's cached view.</summary>
    public static IServiceCollection AddGatewayCustomers(this IServiceCollection services, bool redis)
    {
        if (redis)
        {
            services.TryAddSingleton<ICustomerStore, RedisCustomerStore>();
        }
        else
        {
            services.TryAddSingleton<ICustomerStore, SqliteCustomerStore>();
        }

        services.TryAddSingleton<CustomerDirectory>();
        return services;
    }
}
