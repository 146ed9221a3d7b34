using Gateway.Keys;
using Gateway.Observability;
using Gateway.Stores;

namespace Gateway.Admin;

/// <summary>Maps lifecycle and store failures of any admin handler to the admin API's status codes.</summary>
internal sealed partial class AdminErrorFilter(ILogger<AdminErrorFilter> logger) : IEndpointFilter
{
    public async ValueTask<object?> InvokeAsync(EndpointFilterInvocationContext context, EndpointFilterDelegate next)
    {
        try
        {
            return await next(context);
        }
        catch (KeyOperationException ex)
        {
            return ex.Error switch
            {
                KeyOperationError.NotFound => AdminProblems.NotFound(ex.Message),
                KeyOperationError.Invalid => AdminProblems.Invalid(ex.Field ?? "body", ex.Message),
                _ => AdminProblems.Conflict(ex.Message, ex.Field),
            };
        }
        catch (StoreConflictException ex)
        {
            return AdminProblems.Conflict(ex.Message, ex.Field);
        }
        catch (StoreConcurrencyException ex)
        {
            return AdminProblems.Conflict(ex.Message);
        }
        catch (StoreNotFoundException ex)
        {
            return AdminProblems.NotFound(ex.Message);
        }
        catch (Exception ex) when (StoreResilience.IsUnavailable(ex))
        {
            Log.StoreUnavailable(logger, ex);
            return AdminProblems.Unavailable();
        }
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = EventIds.AdminStoreUnavailable, Level = LogLevel.Warning, Message = "Admin call failed: store unavailable.")]
        public static partial void StoreUnavailable(ILogger logger, Exception exception);
    }
}
