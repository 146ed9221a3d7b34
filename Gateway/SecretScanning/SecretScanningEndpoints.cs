using System.Security.Cryptography;
using System.Text.Json;
using Gateway.Http;
using Gateway.RateLimiting;
using Gateway.Stores;
using Microsoft.Extensions.Options;

namespace Gateway.SecretScanning;

public static class SecretScanningEndpointRouteBuilderExtensions
{
    /// <summary>Largest report body read; 1000 tokens with long URLs fit well inside.</summary>
    private const int MaxBodyBytes = 1024 * 1024;

    /// <summary>How long a report body may take to arrive; GitHub's are small and sent at once.</summary>
    private static readonly TimeSpan ReadDeadline = TimeSpan.FromSeconds(10);

    /// <summary>
    /// Maps <c>Gateway:SecretScanning:Path</c> on the proxy listener when <c>Gateway:SecretScanning:Enabled</c>:
    /// an endpoint of its own, so the proxy's key check and limits do not apply and nothing reaches an upstream.
    /// </summary>
    public static IEndpointRouteBuilder MapSecretScanning(this IEndpointRouteBuilder endpoints)
    {
        var options = endpoints.ServiceProvider.GetRequiredService<IOptions<SecretScanningOptions>>().Value;
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

        // The report path is public: it spends the client IP's allowance like a proxied request.
        if (!services.GetRequiredService<IpLimitGate>().TryEnter(context, out var refusal))
        {
            await refusal;
            return;
        }

        if (!HttpMethods.IsPost(context.Request.Method))
        {
            context.Response.Headers.Allow = "POST";
            await GatewayProblem.WriteAsync(context, ProblemCodes.MethodNotAllowed, "Leaked-key reports are POSTed.");
            return;
        }

        // Everything that can be judged from the headers is judged before a byte of the body is read: an
        // unknown key identifier or a signature that cannot be a P-256 DER signature costs no buffer.
        var headers = context.Request.Headers;
        Span<byte> der = stackalloc byte[PublicKeyRing.MaxSignatureBytes];
        if (!services.GetRequiredService<PublicKeyRing>().TryGet(headers["GITHUB-PUBLIC-KEY-IDENTIFIER"].ToString(), out var key)
            || !PublicKeyRing.TryDecodeSignature(headers["GITHUB-PUBLIC-KEY-SIGNATURE"].ToString(), der, out var derLength))
        {
            await InvalidSignatureAsync(context);
            return;
        }

        if (context.Request.ContentLength > MaxBodyBytes)
        {
            await TooLargeAsync(context);
            return;
        }

        var signature = der[..derLength].ToArray();
        var slots = services.GetRequiredService<ReportSlots>();
        if (!slots.TryEnter())
        {
            context.Response.Headers.RetryAfter = "1";
            await GatewayProblem.WriteAsync(context, ProblemCodes.ReportsBusy, $"At most {ReportSlots.Capacity} reports are read at a time; retry shortly.");
            return;
        }

        byte[]? body;
        byte[] hash;
        (int Status, string Reason)? refused;
        try
        {
            (body, hash, refused) = await ReadBodyAsync(context);
        }
        finally
        {
            slots.Exit();
        }

        if (refused is { } bad)
        {
            await (ClientBodyErrors.ProblemFor(bad) == ProblemCodes.BodyTooLarge
                ? TooLargeAsync(context)
                : GatewayProblem.WriteAsync(context, ProblemCodes.BadRequest, "The request body is malformed: " + bad.Reason));
            return;
        }

        if (body is null)
        {
            // Cut off by the read deadline (the connection is aborted) or over the size limit.
            if (!context.RequestAborted.IsCancellationRequested)
            {
                await TooLargeAsync(context);
            }

            return;
        }

        if (!PublicKeyRing.VerifyHash(key, hash, signature))
        {
            await InvalidSignatureAsync(context);
            return;
        }

        var (reports, error, tooMany) = Parse(body);
        if (reports is null)
        {
            await GatewayProblem.WriteAsync(context, tooMany ? ProblemCodes.ReportTooLarge : ProblemCodes.InvalidReport, error);
            return;
        }

        var action = LeakActions.Configured(services.GetRequiredService<IOptionsMonitor<SecretScanningOptions>>().CurrentValue.Action);
        IReadOnlyList<LeakFeedback> feedback;
        try
        {
            feedback = await services.GetRequiredService<LeakedKeyReporter>().HandleAsync(reports, action, "secret-scanning", context.RequestAborted);
        }
        catch (Exception ex) when (StoreResilience.IsUnavailable(ex))
        {
            // GitHub sends the report again on a 5xx; a 503 with Retry-After says the key was not acted on yet.
            context.Response.Headers.RetryAfter = "1";
            await GatewayProblem.WriteAsync(context, ProblemCodes.StoreUnavailable, "The store did not answer; the report was not acted on. Send it again.");
            return;
        }
        catch (StoreConcurrencyException)
        {
            // A key kept changing under the report on every try (KeyManager.LeakAttempts), e.g. many reports of it at
            // once. Tokens before it were acted on and a repeat is harmless, so asking GitHub to send it again is safe.
            context.Response.Headers.RetryAfter = "1";
            await GatewayProblem.WriteAsync(context, ProblemCodes.ReportsBusy, "A reported key was being changed by other calls on every try; send the report again.");
            return;
        }

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

    private static Task InvalidSignatureAsync(HttpContext context) =>
        GatewayProblem.WriteAsync(context, ProblemCodes.InvalidSignature, "The report is not signed by a configured public key.");

    private static Task TooLargeAsync(HttpContext context) =>
        GatewayProblem.WriteAsync(context, ProblemCodes.ReportTooLarge, $"A report body may be at most {MaxBodyBytes} bytes.");

    /// <summary>
    /// The body, growing with what actually arrives (never a 1 MiB buffer up front), within
    /// <see cref="ReadDeadline"/>: a client that trickles bytes does not hold a report slot for long.
    /// Hashed as it arrives, for the signature check. Null when it is too large, or when the deadline
    /// passed (the connection is then aborted), or with <c>Refused</c> when Kestrel refused the body.
    /// </summary>
    private static async Task<(byte[]? Body, byte[] Hash, (int Status, string Reason)? Refused)> ReadBodyAsync(HttpContext context)
    {
        using var sha256 = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(context.RequestAborted);
        deadline.CancelAfter(ReadDeadline);
        using var buffer = new MemoryStream();
        var chunk = System.Buffers.ArrayPool<byte>.Shared.Rent(16 * 1024);
        try
        {
            int read;
            while ((read = await context.Request.Body.ReadAsync(chunk, deadline.Token)) > 0)
            {
                if (buffer.Length + read > MaxBodyBytes)
                {
                    return (null, [], null);
                }

                sha256.AppendData(chunk, 0, read);
                buffer.Write(chunk, 0, read);
            }
        }
        catch (OperationCanceledException) when (!context.RequestAborted.IsCancellationRequested)
        {
            context.Abort();
            return (null, [], null);
        }
        catch (Exception ex) when (ClientBodyErrors.Find(ex) is { } refused && !context.RequestAborted.IsCancellationRequested)
        {
            // Kestrel refused the body (bad chunk framing, too slow): the client's error, not a 500.
            return (null, [], refused);
        }
        finally
        {
            System.Buffers.ArrayPool<byte>.Shared.Return(chunk);
        }

        return (buffer.ToArray(), sha256.GetHashAndReset(), null);
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
