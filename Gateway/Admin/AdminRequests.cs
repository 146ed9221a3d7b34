using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using Gateway.Http;

namespace Gateway.Admin;

/// <summary>What every admin body parser shares; the parsers themselves sit next to their endpoints.</summary>
internal static class AdminRequests
{
    /// <summary>
    /// The member names of a documented request type, so that the members a parser accepts and the ones
    /// the OpenAPI document lists cannot drift apart.
    /// </summary>
    public static string[] Members(JsonTypeInfo request) => request.Properties.Select(p => p.Name).ToArray();

    /// <summary>
    /// Reads the body as a JSON object and runs <paramref name="parse"/> on it; any problem (size, syntax,
    /// shape or a field <paramref name="parse"/> rejects) comes back as the 4xx result to return.
    /// </summary>
    public static async Task<(T Value, AdminProblem? Error)> ReadAsync<T>(HttpRequest request, bool allowEmpty, Func<JsonElement, ValidationErrors, T> parse)
    {
        var (document, error) = await ReadObjectAsync(request, allowEmpty);
        if (error is not null)
        {
            return (default!, error);
        }

        using (document)
        {
            var errors = new ValidationErrors();
            var value = parse(document!.RootElement, errors);
            return errors.Any ? (default!, AdminProblems.Validation(errors)) : (value, null);
        }
    }

    private static async Task<(JsonDocument? Document, AdminProblem? Error)> ReadObjectAsync(HttpRequest request, bool allowEmpty)
    {
        var buffer = new MemoryStream();
        var chunk = new byte[8192];
        int read;
        try
        {
            while ((read = await request.Body.ReadAsync(chunk, request.HttpContext.RequestAborted)) > 0)
            {
                if (buffer.Length + read > JsonFields.MaxBodyBytes)
                {
                    return (null, AdminProblems.TooLarge());
                }

                buffer.Write(chunk, 0, read);
            }
        }
        catch (Exception ex) when (ClientBodyErrors.Find(ex) is { } refused && !request.HttpContext.RequestAborted.IsCancellationRequested)
        {
            // Kestrel refused the body (bad chunk framing, too slow): the client's error, not a 500.
            return (null, ClientBodyErrors.ProblemFor(refused) == ProblemCodes.BodyTooLarge
                ? AdminProblems.TooLarge()
                : new AdminProblem(ProblemCodes.BadRequest, "The request body is malformed: " + refused.Reason, null));
        }

        if (buffer.Length == 0 || IsWhitespace(buffer))
        {
            return allowEmpty
                ? (JsonDocument.Parse("{}"), null)
                : (null, AdminProblems.Invalid("body", "A JSON object is required."));
        }

        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(buffer.GetBuffer().AsMemory(0, (int)buffer.Length), JsonFields.DocumentOptions);
        }
        catch (JsonException ex)
        {
            // The reader knows where malformed JSON broke off; a duplicate member is found after reading, with no position.
            return (null, AdminProblems.Invalid("body", ex.LineNumber is { } line
                ? $"Malformed JSON (line {line + 1}, byte {ex.BytePositionInLine + 1})."
                : "Malformed JSON or a duplicate member."));
        }
        catch (InvalidOperationException)
        {
            // The duplicate-member check decodes names; an undecodable one surfaces here.
            return (null, AdminProblems.Invalid("body", "A member name is not valid text."));
        }

        if (document.RootElement.ValueKind != JsonValueKind.Object)
        {
            document.Dispose();
            return (null, AdminProblems.Invalid("body", "Must be a JSON object."));
        }

        return (document, null);
    }

    private static bool IsWhitespace(MemoryStream buffer)
    {
        foreach (var b in buffer.GetBuffer().AsSpan(0, (int)buffer.Length))
        {
            if (b is not ((byte)' ' or (byte)'\t' or (byte)'\r' or (byte)'\n'))
            {
                return false;
            }
        }

        return true;
    }
}
