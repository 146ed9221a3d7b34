using System.Text.Json;

namespace Gateway.Http;

/// <summary>
/// Writes the proxy listener's errors as RFC 9457 problem+json with a stable <c>code</c> member that
/// clients can switch on. Every code is documented in docs/problems.md, one row each.
/// </summary>
internal static class GatewayProblem
{
    public const string ContentType = "application/problem+json";

    /// <summary>The span tag that carries the problem <c>code</c>.</summary>
    public const string RefusalTag = "gateway.refusal_code";

    /// <summary>
    /// The <c>type</c> member: a relative reference to the code's row in the project's problems.md, so
    /// it resolves to this project's own docs wherever they are published (no domain to own or keep).
    /// </summary>
    public static string TypeFor(string code) => "problems.md#" + code;

    /// <summary>Writes <paramref name="problem"/>: its code, title and status come from <see cref="ProblemCodes"/>.</summary>
    public static Task WriteAsync(HttpContext context, ProblemCode problem, string? detail = null, Action<Utf8JsonWriter>? extra = null) =>
        WriteAsync(context, problem.Status, problem.Code, problem.Title, detail, extra);

    /// <summary>
    /// Writes a problem from its parts; every writer names a <see cref="ProblemCodes"/> entry through the
    /// public overload, so a code, its title and its status are written once.
    /// </summary>
    private static Task WriteAsync(HttpContext context, int status, string code, string title, string? detail = null, Action<Utf8JsonWriter>? extra = null)
    {
        // The span of the stage that refused (or the request span) says why, for traces.
        System.Diagnostics.Activity.Current?.SetTag(RefusalTag, code);
        if (context.Feature<ProblemCodeFeature>() is { } recorded)
        {
            recorded.Code = code;
        }
        else
        {
            context.SetFeature(new ProblemCodeFeature { Code = code });
        }

        var response = context.Response;
        response.StatusCode = status;
        response.ContentType = ContentType;
        response.Headers.CacheControl = "no-store";

        var buffer = new System.Buffers.ArrayBufferWriter<byte>(256);
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            json.WriteString("type", TypeFor(code));
            json.WriteString("title", title);
            json.WriteNumber("status", status);
            if (detail is not null)
            {
                json.WriteString("detail", detail);
            }

            json.WriteString("code", code);
            if (context.Response.Headers.TryGetValue(RequestIdMiddleware.HeaderName, out var requestId))
            {
                json.WriteString("requestId", requestId.ToString());
            }

            extra?.Invoke(json);
            json.WriteEndObject();
        }

        response.ContentLength = buffer.WrittenCount;
        return response.Body.WriteAsync(buffer.WrittenMemory).AsTask();
    }
}
