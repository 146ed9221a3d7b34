using System.Net;
using System.Text.Json;
using Gateway.Admin;
using Gateway.Domain;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace Gateway.Verify;

/// <summary>
/// <c>POST /v1/keys/verify</c> on the admin listener, for services that are not behind the proxy: an operator
/// token of any role (<c>verifier</c> is enough) asks what a proxied request with this key would get. Always
/// 200 with <c>valid</c> and <c>code</c>; 400 only for a malformed call. The organization check is the
/// verifier's, not the authorization filter's: the key's organization is known only once the key is found, and
/// a key of another organization must answer exactly like an unknown one.
/// </summary>
internal sealed class VerifyEndpoints : IAdminApi
{
    public const int MaxCost = 1_000_000;
    private static readonly string[] Fields = AdminRequests.Members(VerifyJsonContext.Default.VerifyKeyRequest);

    public string Prefix => "/v1";

    public void Map(RouteGroupBuilder v1)
    {
        v1.MapPost("/keys/verify", VerifyAsync).WithName("VerifyKey").WithTags("Verify")
            .RequireAnyAdminRole()
            .AcceptsAdminBody<VerifyKeyRequest>()
            .ProducesAdminProblem(StatusCodes.Status400BadRequest, StatusCodes.Status413PayloadTooLarge);
    }

    private static async Task<Results<Ok<VerifyKeyResponse>, AdminProblem>> VerifyAsync(HttpContext context, KeyVerifier verifier)
    {
        var (input, error) = await AdminRequests.ReadAsync(context.Request, allowEmpty: false, Parse);
        if (error is not null)
        {
            return error;
        }

        // Once read, a charging call is decided even if the caller goes away: its permits are spent either way.
        var cancellation = input!.Charge ? CancellationToken.None : context.RequestAborted;
        return TypedResults.Ok(await verifier.VerifyAsync(input, AdminPrincipal.Of(context).Org, cancellation));
    }

    private static VerifyInput? Parse(JsonElement body, ValidationErrors errors)
    {
        JsonFields.RejectUnknown(body, errors, Fields);
        var (_, key) = JsonFields.String(body, "key", errors, maxLength: 256);
        var (_, environment) = JsonFields.String(body, "environment", errors, allowNull: true, maxLength: 32);
        var (_, scopes) = JsonFields.StringArray(body, "scopes", errors);
        var (_, clientIpText) = JsonFields.String(body, "clientIp", errors, allowNull: true, maxLength: 64);
        if (key is null && !errors.All.ContainsKey("key"))
        {
            errors.Add("key", "Required.");
        }

        if (environment is not null && !KeyEnvironments.IsValid(environment))
        {
            errors.Add("environment", "Must be one of production, staging, development.");
        }

        var cost = 1;
        if (body.TryGetProperty("cost", out var costElement) && costElement.ValueKind != JsonValueKind.Null
            && (costElement.ValueKind != JsonValueKind.Number || !costElement.TryGetInt32(out cost) || cost is < 0 or > MaxCost))
        {
            errors.Add("cost", $"Must be a whole number from 0 to {MaxCost}.");
        }

        var charge = false;
        if (body.TryGetProperty("charge", out var chargeElement))
        {
            switch (chargeElement.ValueKind)
            {
                case JsonValueKind.True:
                    charge = true;
                    break;
                case JsonValueKind.False or JsonValueKind.Null:
                    break;
                default:
                    errors.Add("charge", "Must be true or false.");
                    break;
            }
        }

        IPAddress? clientIp = null;
        if (clientIpText is not null && !AllowedCidrs.TryParseAddress(clientIpText, out clientIp))
        {
            errors.Add("clientIp", "Must be an IPv4 address as a dotted quad (203.0.113.7) or an IPv6 address.");
        }

        return errors.Any ? null : new VerifyInput(key!, environment, scopes ?? [], cost, charge, clientIp);
    }
}

internal static class VerifyServiceCollectionExtensions
{
    /// <summary><c>POST /v1/keys/verify</c>: the verifier and its endpoint, mapped with the admin API's filters.</summary>
    public static IServiceCollection AddGatewayVerify(this IServiceCollection services)
    {
        services.TryAddSingleton<KeyVerifier>();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IAdminApi, VerifyEndpoints>());
        services.ConfigureHttpJsonOptions(options => options.SerializerOptions.TypeInfoResolverChain.Insert(0, VerifyJsonContext.Default));
        return services;
    }
}
