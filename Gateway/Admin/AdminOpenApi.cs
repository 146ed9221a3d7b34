using System.Reflection;
using Microsoft.OpenApi;
using Gateway.Http;

namespace Gateway.Admin;

/// <summary>
/// The admin API's OpenAPI document, generated from the endpoints' typed results and metadata and served at
/// <c>/openapi/v1.json</c> on the admin listener only, without the admin token (like the console: it
/// describes the API and holds no data).
/// </summary>
internal static class AdminOpenApi
{
    public const string DocumentName = "v1";
    public const string Path = "/openapi/v1.json";
    private const string TokenScheme = "adminToken";

    public static IServiceCollection AddGatewayAdminOpenApi(this IServiceCollection services)
    {
        // TypedResults and the document's schemas both read the HTTP JSON options: the source-generated
        // contexts come first there, so responses are written as before and the schemas describe those bytes.
        services.ConfigureHttpJsonOptions(options =>
        {
            options.SerializerOptions.TypeInfoResolverChain.Insert(0, AdminJsonContext.Default);
            options.SerializerOptions.TypeInfoResolverChain.Insert(1, UsageJsonContext.Default);
        });

        services.AddOpenApi(DocumentName, options =>
        {
            options.ShouldInclude = description => description.RelativePath is { } path
                && (path.StartsWith("admin/", StringComparison.Ordinal) || path.StartsWith("v1/", StringComparison.Ordinal));
            // Web JSON reads numbers from strings too, so the generator allows "string" for integers; the admin
            // API writes numbers and its parsers accept only numbers.
            options.AddSchemaTransformer((schema, _, _) =>
            {
                if (schema.Type is { } type && (type & (JsonSchemaType.Integer | JsonSchemaType.Number)) != 0 && (type & JsonSchemaType.String) != 0)
                {
                    schema.Type = type & ~JsonSchemaType.String;
                    schema.Pattern = null;
                }

                return Task.CompletedTask;
            });
            options.AddDocumentTransformer((document, _, _) =>
            {
                document.Info = new OpenApiInfo
                {
                    Title = "Gateway admin API",
                    Version = DocumentName,
                    Description = "Organizations, keys, audit, usage and the verify call. Every /admin and /v1 call needs 'Authorization: Bearer <admin token>'; errors are application/problem+json with a stable 'code' (docs/problems.md).",
                };
                // The generator fills "servers" from the request's Host header, which any caller chooses (and a
                // shared cache would then serve to everyone): no servers, so clients use the URL they fetched it from.
                document.Servers = [];
                document.Components ??= new OpenApiComponents();
                document.Components.SecuritySchemes ??= new Dictionary<string, IOpenApiSecurityScheme>();
                document.Components.SecuritySchemes[TokenScheme] = new OpenApiSecurityScheme
                {
                    Type = SecuritySchemeType.Http,
                    Scheme = "bearer",
                    Description = "The admin token (Gateway:Admin:Token).",
                };
                document.Security = [new OpenApiSecurityRequirement { [new OpenApiSecuritySchemeReference(TokenScheme, document)] = [] }];
                return Task.CompletedTask;
            });
        });
        return services;
    }

    public static IEndpointRouteBuilder MapAdminOpenApi(this IEndpointRouteBuilder endpoints)
    {
        endpoints.MapOpenApi(Path).OnAdminListener();
        return endpoints;
    }

    /// <summary>
    /// Documents the JSON body an endpoint reads itself (for its strict, field-by-field errors). Not
    /// <c>Accepts&lt;T&gt;</c>: that metadata also makes routing answer 415 to another Content-Type, which the
    /// admin API has never required.
    /// </summary>
    public static RouteHandlerBuilder AcceptsAdminBody<TRequest>(this RouteHandlerBuilder builder, bool required = true) =>
        builder.AddOpenApiOperationTransformer(async (operation, context, cancellationToken) =>
        {
            var schema = await context.GetOrCreateSchemaAsync(typeof(TRequest), null, cancellationToken);
            AllowNullObjects(schema, typeof(TRequest));
            operation.RequestBody = new OpenApiRequestBody
            {
                Required = required,
                Content = new Dictionary<string, OpenApiMediaType> { ["application/json"] = new() { Schema = schema } },
            };
        });

    /// <summary>
    /// Documents the query parameters an endpoint reads itself from <c>Request.Query</c> (for its field-by-field
    /// errors): the generator sees only bound parameters, so without this they would be missing from the document.
    /// </summary>
    public static TBuilder WithQueryParameters<TBuilder>(this TBuilder builder, params AdminQueryParameter[] parameters)
        where TBuilder : IEndpointConventionBuilder =>
        builder.AddOpenApiOperationTransformer((operation, _, _) =>
        {
            operation.Parameters ??= [];
            foreach (var parameter in parameters)
            {
                operation.Parameters.Add(parameter.ToOpenApi());
            }

            return Task.CompletedTask;
        });

    /// <summary>
    /// For calls that need no admin token (signing in and out): an empty requirement overrides the document's
    /// global one, so generated clients neither demand nor send the token.
    /// </summary>
    public static TBuilder WithoutAdminToken<TBuilder>(this TBuilder builder)
        where TBuilder : IEndpointConventionBuilder =>
        builder.AddOpenApiOperationTransformer((operation, _, _) =>
        {
            operation.Security = [];
            return Task.CompletedTask;
        });

    /// <summary>
    /// A body schema is written inline, and inline the generator drops the null of a nullable object member
    /// (<c>"rateLimit": null</c> clears the limit); put it back from the member's annotation.
    /// </summary>
    private static void AllowNullObjects(OpenApiSchema schema, Type request)
    {
        var nullability = new NullabilityInfoContext();
        foreach (var (name, member) in schema.Properties ?? new Dictionary<string, IOpenApiSchema>())
        {
            if (member is OpenApiSchema { Type: JsonSchemaType.Object } inline
                && request.GetProperty(name, BindingFlags.Public | BindingFlags.Instance | BindingFlags.IgnoreCase) is { } property
                && nullability.Create(property).ReadState == NullabilityState.Nullable)
            {
                inline.Type = JsonSchemaType.Object | JsonSchemaType.Null;
            }
        }
    }
}

/// <summary>A query parameter an endpoint reads by hand, as <see cref="AdminOpenApi.WithQueryParameters"/> documents it.</summary>
internal sealed record AdminQueryParameter(string Name, string Description, JsonSchemaType Type = JsonSchemaType.String, bool Required = false)
{
    /// <summary>ISO 8601 only (docs/admin-api.md), as <c>JsonFields.QueryTime</c> parses it.</summary>
    public static AdminQueryParameter Time(string name, string description) => new(name, description) { Format = "date-time" };

    public string? Format { get; init; }

    public IReadOnlyList<string>? Values { get; init; }

    public OpenApiParameter ToOpenApi() => new()
    {
        Name = Name,
        In = ParameterLocation.Query,
        Required = Required,
        Description = Description,
        Schema = new OpenApiSchema
        {
            Type = Type,
            Format = Format,
            Enum = Values?.Select(v => (System.Text.Json.Nodes.JsonNode)System.Text.Json.Nodes.JsonValue.Create(v)).ToList(),
        },
    };
}
