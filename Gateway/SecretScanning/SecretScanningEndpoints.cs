using System.Text.Json;
using Gateway.Configuration;
using Gateway.Http;
using Gateway.Keys;
using Microsoft.Extensions.Options;

namespace Gateway.SecretScanning;

public static class SecretScanningEndpointRouteBuilderExtensions
{
    /// <summary>Largest report body read; 1000 tokens with long URLs fit well inside.</summary>
    private const int MaxBodyBytes = 1024 * 1024;

    /// <summary>
    /// Maps <c>Gateway:SecretScanning:Path</c> on the proxy listener when <c>Gateway:SecretScanning:Enabled</c>:
    /// an endpoint of its own, so the proxy's key check and limits do not apply and nothing reaches an upstream.
    /// </summary>
    public static IEndpointRouteBuilder MapSecretScanning(this IEndpointRouteBuilder endpoints)
    {
        var options = endpoints.ServiceProvider.GetRequiredService<IOptions<GatewayOptions>>().Value.SecretScanning;
        if (!options.Enabled)
        {
            return endpoints;
        }

        // Ahead of any YARP route, even a catch-all or one on this very path.
        endpoints.Map(options.Path, HandleAsync).Add(b => ((RouteEndpointBuilder)b).Order = int.MinValue);
        return endpoints;
    }

    private static async Task HandleAsync(HttpContext context)
    {
        var services = context.RequestServices;
        if (!HttpMethods.IsPost(context.Request.Method))
        {
            context.Response.Headers.Allow = "POST";
            await GatewayProblem.WriteAsync(context, StatusCodes.Status405MethodNotAllowed, "method_not_allowed", "Method not allowed", "Leaked-key reports are POSTed.");
            return;
        }

        var body = await ReadBodyAsync(context);
        if (body is null)
        {
            await GatewayProblem.WriteAsync(context, StatusCodes.Status413PayloadTooLarge, "report_too_large", "Report too large", $"A report body may be at most {MaxBodyBytes} bytes.");
            return;
        }

        var headers = context.Request.Headers;
        if (!services.GetRequiredService<PublicKeyRing>().Verify(headers["GITHUB-PUBLIC-KEY-IDENTIFIER"].ToString(), headers["GITHUB-PUBLIC-KEY-SIGNATURE"].ToString(), body))
        {
            await GatewayProblem.WriteAsync(context, StatusCodes.Status401Unauthorized, "invalid_signature", "Invalid signature", "The report is not signed by a configured public key.");
            return;
        }

        var (reports, error, tooMany) = Parse(body);
        if (reports is null)
        {
            await GatewayProblem.WriteAsync(context, tooMany ? StatusCodes.Status413PayloadTooLarge : StatusCodes.Status400BadRequest, tooMany ? "report_too_large" : "invalid_report", tooMany ? "Report too large" : "Invalid report", error);
            return;
        }

        var gateway = services.GetRequiredService<IOptionsMonitor<GatewayOptions>>().CurrentValue;
        var action = LeakActions.Configured(gateway.SecretScanning.Action);
        var feedback = await services.GetRequiredService<LeakedKeyReporter>().HandleAsync(reports, action, "secret-scanning", context.RequestAborted);

        context.Response.StatusCode = StatusCodes.Status200OK;
        context.Response.ContentType = "application/json";
        await using var json = new Utf8JsonWriter(context.Response.Body);
        json.WriteStartArray();
        foreach (var item in feedback)
        {
            json.WriteStartObject();
            json.WriteString("token_hash", item.TokenHash);
            json.WriteString("token_type", item.TokenType);
            json.WriteString("label", item.Label);
            json.WriteEndObject();
        }

        json.WriteEndArray();
    }

    private static async Task<byte[]?> ReadBodyAsync(HttpContext context)
    {
        if (context.Request.ContentLength > MaxBodyBytes)
        {
            return null;
        }

        using var buffer = new MemoryStream();
        var chunk = new byte[16 * 1024];
        int read;
        while ((read = await context.Request.Body.ReadAsync(chunk, context.RequestAborted)) > 0)
        {
            if (buffer.Length + read > MaxBodyBytes)
            {
                return null;
            }

            buffer.Write(chunk, 0, read);
        }

        return buffer.ToArray();
    }

    /// <summary>A JSON array of <c>{"token","type","url","source"}</c>; only <c>token</c> is required.</summary>
    internal static (List<LeakReport>? Reports, string Error, bool TooMany) Parse(byte[] body)
    {
        try
        {
            using var document = JsonDocument.Parse(body, new JsonDocumentOptions { MaxDepth = 4 });
            if (document.RootElement.ValueKind != JsonValueKind.Array)
            {
                return (null, "The report must be a JSON array.", false);
            }

            if (document.RootElement.GetArrayLength() > LeakedKeyReporter.MaxTokens)
            {
                return (null, $"A report may hold at most {LeakedKeyReporter.MaxTokens} tokens.", true);
            }

            var reports = new List<LeakReport>();
            var index = 0;
            foreach (var item in document.RootElement.EnumerateArray())
            {
                if (item.ValueKind != JsonValueKind.Object || !item.TryGetProperty("token", out var token) || token.ValueKind != JsonValueKind.String)
                {
                    return (null, $"Item {index} must be an object with a string 'token'.", false);
                }

                reports.Add(new LeakReport(token.GetString()!, Text(item, "type"), Text(item, "url"), Text(item, "source")));
                index++;
            }

            return (reports, "", false);
        }
        catch (Exception ex) when (ex is JsonException or InvalidOperationException or ArgumentException)
        {
            return (null, "The report is not valid JSON.", false);
        }
    }

    private static string? Text(JsonElement item, string name) =>
        item.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String ? value.GetString() : null;
}
