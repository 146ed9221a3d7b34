using System.Text.Json.Serialization;
using Gateway.Http;

namespace Gateway.Admin;

/// <summary>problem+json results for the admin API, in the same shape as the proxy's errors.</summary>
internal static class AdminProblems
{
    public static AdminProblem Validation(ValidationErrors errors) => new AdminProblem(ProblemCodes.InvalidRequest, errors.Summary(), errors);

    public static AdminProblem Invalid(string field, string message)
    {
        var errors = new ValidationErrors();
        errors.Add(field, message);
        return Validation(errors);
    }

    public static AdminProblem NotFound(string detail) => new AdminProblem(ProblemCodes.NotFound, detail, null);

    public static AdminProblem Conflict(string detail, string? field = null) => new AdminProblem(ProblemCodes.Conflict, detail, null, field);

    public static AdminProblem TooLarge() => new AdminProblem(ProblemCodes.BodyTooLarge, $"Admin request bodies are limited to {JsonFields.MaxBodyBytes} bytes.", null);

    public static AdminProblem Unauthorized() => new AdminProblem(ProblemCodes.AdminUnauthorized, "Send the admin token as 'Authorization: Bearer <token>'.", null);

    public static AdminProblem Forbidden() => new AdminProblem(
        ProblemCodes.AdminForbidden, "This admin token's role or organization does not allow this call.", null);

    public static AdminProblem TooManyFailedAttempts(int retryAfterSeconds) => new AdminProblem(
        ProblemCodes.AdminThrottled, $"Too many failed admin authentications; retry after {retryAfterSeconds} s.", null);

    public static AdminProblem Csrf() => new AdminProblem(
        ProblemCodes.AdminCsrf, "A console session's POST, PATCH or DELETE needs the X-Gateway-Csrf header with the csrf value GET /admin/me returned.", null);

    public static AdminProblem CrossSite() => new AdminProblem(
        ProblemCodes.AdminCrossSite, "Browsers may call the admin API only from the admin console served by this listener.", null);

    public static AdminProblem Unavailable() => new AdminProblem(ProblemCodes.StoreUnavailable, "The store did not answer; retry shortly.", null);

    /// <summary>
    /// Declares problem+json responses (<see cref="AdminProblemDto"/>) with these status codes for the OpenAPI document.
    /// <see cref="AdminProblem"/> is one type for every status, so a handler's return type cannot say which it sends.
    /// </summary>
    public static TBuilder ProducesAdminProblem<TBuilder>(this TBuilder builder, params int[] statusCodes)
        where TBuilder : IEndpointConventionBuilder
    {
        foreach (var status in statusCodes)
        {
            builder.WithMetadata(new ProducesResponseTypeMetadata(status, typeof(AdminProblemDto), [GatewayProblem.ContentType]));
        }

        return builder;
    }
}

/// <summary>
/// An admin error, written by <see cref="GatewayProblem"/> like the proxy's (so also <c>Cache-Control: no-store</c>
/// and the request id). Not ASP.NET Core's <c>ProblemHttpResult</c>: that one needs <c>AddProblemDetails</c>, which
/// would also change how the proxy listener reports exceptions, to write this exact body.
/// </summary>
internal sealed class AdminProblem(ProblemCode problem, string detail, ValidationErrors? errors, string? field = null)
    : IResult, IStatusCodeHttpResult, IContentTypeHttpResult
{
    public int StatusCode => problem.Status;

    int? IStatusCodeHttpResult.StatusCode => problem.Status;

    public string ContentType => GatewayProblem.ContentType;

    public Task ExecuteAsync(HttpContext httpContext)
    {
        if (problem.Status == StatusCodes.Status401Unauthorized)
        {
            httpContext.Response.Headers.WWWAuthenticate = "Bearer";
        }

        return GatewayProblem.WriteAsync(httpContext, problem, detail, json =>
        {
            if (field is not null)
            {
                json.WriteString("field", field);
            }

            if (errors is null)
            {
                return;
            }

            json.WriteStartObject("errors");
            foreach (var (name, messages) in errors.All)
            {
                json.WriteStartArray(name);
                foreach (var message in messages)
                {
                    json.WriteStringValue(message);
                }

                json.WriteEndArray();
            }

            json.WriteEndObject();
        });
    }
}

/// <summary>The body <see cref="AdminProblem"/> writes, declared for the OpenAPI document (never serialized).</summary>
internal sealed record AdminProblemDto(
    string Type,
    string Title,
    int Status,
    string Detail,
    string Code,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? RequestId = null,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? Field = null,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? Limit = null,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] IReadOnlyDictionary<string, IReadOnlyList<string>>? Errors = null);
