using Gateway.Http;

namespace Gateway.Admin;

/// <summary>problem+json results for the admin API, in the same shape as the proxy's errors.</summary>
internal static class AdminProblems
{
    public static IResult Validation(ValidationErrors errors) => new ProblemResult(
        StatusCodes.Status400BadRequest, "invalid_request", "Invalid request", errors.Summary(), errors);

    public static IResult Invalid(string field, string message)
    {
        var errors = new ValidationErrors();
        errors.Add(field, message);
        return Validation(errors);
    }

    public static IResult NotFound(string detail) => new ProblemResult(StatusCodes.Status404NotFound, "not_found", "Not found", detail, null);

    public static IResult Conflict(string detail, string? field = null) => new ProblemResult(StatusCodes.Status409Conflict, "conflict", "Conflict", detail, null, field);

    public static IResult TooLarge() => new ProblemResult(StatusCodes.Status413PayloadTooLarge, "body_too_large", "Body too large", $"Admin request bodies are limited to {JsonFields.MaxBodyBytes} bytes.", null);

    public static IResult Unauthorized() => new ProblemResult(StatusCodes.Status401Unauthorized, "admin_unauthorized", "Unauthorized", "Send the admin token as 'Authorization: Bearer <token>'.", null);

    public static IResult Unavailable() => new ProblemResult(StatusCodes.Status503ServiceUnavailable, "store_unavailable", "Store unavailable", "The store did not answer; retry shortly.", null);

    private sealed class ProblemResult(int status, string code, string title, string detail, ValidationErrors? errors, string? field = null) : IResult
    {
        public Task ExecuteAsync(HttpContext httpContext)
        {
            if (status == StatusCodes.Status401Unauthorized)
            {
                httpContext.Response.Headers.WWWAuthenticate = "Bearer";
            }

            return GatewayProblem.WriteAsync(httpContext, status, code, title, detail, json =>
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
}
