using System.CommandLine;
using System.Globalization;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization.Metadata;
using Gateway.Client;

namespace Gateway.Cli;

/// <summary>A command's bad option value, found before anything is sent.</summary>
internal sealed class CliUsageException(string message) : Exception(message);

/// <summary>
/// Runs one admin API call through <see cref="GatewayClient"/> and prints the answer the API sent: JSON for scripts
/// (<c>--json</c>, <c>--output json</c>, or standard output redirected), a table on a terminal. JSON is written with a
/// relaxed encoder, so timestamps read <c>+00:00</c> rather than <c>\\u002B00:00</c>.
/// </summary>
internal sealed class CliClient(
    TextWriter output,
    TextWriter error,
    HttpMessageHandler? handler,
    Option<string> adminUrl,
    Option<string?> token,
    Option<string?> actor,
    Option<string?> format,
    Option<bool> json)
{
    private static readonly JsonSerializerOptions Pretty = new(GatewayJsonContext.Default.Options)
    {
        WriteIndented = true,
        // Output for a person's terminal or a script's parser, never for an HTML page: no \\u002B for '+'.
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    };

    public Task<int> RunAsync<T>(ParseResult result, Func<GatewayClient, CancellationToken, Task<T>> call, JsonTypeInfo<T> type, CancellationToken cancellationToken) =>
        RunCoreAsync(result, async (client, recorder, ct) =>
        {
            var answer = await call(client, ct);
            // What the API sent, member for member, its nulls included; the client's model of it would add the members
            // other answers of that type have. Only an answer without a body (a delete) prints what the command made of it.
            return recorder.LastBody.IsEmpty
                ? JsonSerializer.SerializeToNode(answer, (JsonTypeInfo<T>)Pretty.GetTypeInfo(typeof(T)))
                : JsonNode.Parse(recorder.LastBody.Span);
        }, cancellationToken);

    /// <summary>
    /// A whole list: its pages of <see cref="PageSize"/> one after another, following nextCursor, printed as one
    /// list (nextCursor null), so a list of 50,000 keys is neither one huge answer nor cut at a page.
    /// </summary>
    public Task<int> RunListAsync<T>(ParseResult result, Func<GatewayClient, int, string?, CancellationToken, Task<Page<T>>> page, CancellationToken cancellationToken) =>
        RunCoreAsync(result, async (client, recorder, ct) =>
        {
            var items = new JsonArray();
            string? cursor = null;
            do
            {
                var answer = await page(client, PageSize, cursor, ct);
                var sent = JsonNode.Parse(recorder.LastBody.Span)?["items"]?.AsArray() ?? [];
                foreach (var item in sent.ToList())
                {
                    sent.Remove(item);
                    items.Add(item);
                }

                cursor = answer.NextCursor;
            }
            while (cursor is not null);

            return new JsonObject { ["items"] = items, ["nextCursor"] = null };
        }, cancellationToken);

    /// <summary>Items per page of <see cref="RunListAsync"/>: the most a list answers at once.</summary>
    internal const int PageSize = 1000;

    private async Task<int> RunCoreAsync(ParseResult result, Func<GatewayClient, AnswerRecorder, CancellationToken, Task<JsonNode?>> call, CancellationToken cancellationToken)
    {
        var secret = result.GetValue(token) ?? Environment.GetEnvironmentVariable("GATEWAY_ADMIN_TOKEN") ?? ReadTokenFile();
        if (string.IsNullOrEmpty(secret))
        {
            await error.WriteLineAsync("No admin token: pass --token, set GATEWAY_ADMIN_TOKEN, or run from the directory holding data/admin-token.");
            return 1;
        }

        var url = new Uri(result.GetValue(adminUrl)!.TrimEnd('/') + "/");
        using var recorder = new AnswerRecorder(handler);
        var client = GatewayClient.Create(url, secret, recorder);
        using var http = client.Http;
        if (result.GetValue(actor) is { } who)
        {
            http.DefaultRequestHeaders.Add("X-Admin-Actor", who);
        }

        JsonNode? node;
        try
        {
            node = await call(client, recorder, cancellationToken);
        }
        catch (CliUsageException ex)
        {
            await error.WriteLineAsync(ex.Message);
            return 1;
        }
        catch (GatewayApiException ex)
        {
            await error.WriteLineAsync($"{(int)ex.Status} {ex.Status}: {ex.Message}");
            if (ex.Errors.Count > 0)
            {
                await error.WriteLineAsync(JsonSerializer.Serialize(ex.Errors, Pretty.GetTypeInfo(typeof(IReadOnlyDictionary<string, IReadOnlyList<string>>))));
            }

            return 1;
        }
        catch (HttpRequestException ex)
        {
            await error.WriteLineAsync($"Cannot reach the admin API at {url}: {ex.Message}");
            return 2;
        }

        if (AsJson(result))
        {
            await output.WriteLineAsync(node?.ToJsonString(Pretty) ?? "null");
        }
        else
        {
            await output.WriteAsync(Table(node));
        }

        return 0;
    }

    private bool AsJson(ParseResult result)
    {
        if (result.GetValue(json))
        {
            return true;
        }

        return result.GetValue(format) switch
        {
            "json" => true,
            "table" => false,
            // Tables only for a person at a terminal; anything else (a pipe, a file, a test's writer) gets JSON.
            _ => !ReferenceEquals(output, Console.Out) || Console.IsOutputRedirected,
        };
    }

    /// <summary>A list as rows under its items' scalar fields, anything else as field/value lines.</summary>
    internal static string Table(JsonNode? node)
    {
        var text = new StringBuilder();
        if (node is JsonObject page && page["items"] is JsonArray items)
        {
            var rows = items.OfType<JsonObject>().ToList();
            var columns = rows.SelectMany(r => r.Where(p => IsScalar(p.Value)).Select(p => p.Key)).Distinct(StringComparer.Ordinal).ToList();
            var cells = rows.Select(r => columns.Select(c => Cell(r[c])).ToList()).ToList();
            var widths = columns.Select((c, i) => Math.Min(40, Math.Max(c.Length, cells.Select(r => r[i].Length).DefaultIfEmpty(0).Max()))).ToList();
            text.AppendLine(string.Join("  ", columns.Select((c, i) => Fit(c.ToUpperInvariant(), widths[i]))).TrimEnd());
            foreach (var row in cells)
            {
                text.AppendLine(string.Join("  ", row.Select((c, i) => Fit(c, widths[i]))).TrimEnd());
            }

            // Most lists name their cursor nextCursor; the request log names it next.
            if ((page["nextCursor"] ?? page["next"]) is JsonValue next)
            {
                text.AppendLine(CultureInfo.InvariantCulture, $"more: --cursor {next}");
            }

            return text.ToString();
        }

        if (node is JsonObject single)
        {
            var width = single.Select(p => p.Key.Length).DefaultIfEmpty(0).Max();
            foreach (var (key, value) in single)
            {
                text.AppendLine(CultureInfo.InvariantCulture, $"{key.PadRight(width)}  {Cell(value)}");
            }

            return text.ToString();
        }

        return (node?.ToJsonString(Pretty) ?? "") + Environment.NewLine;
    }

    private static bool IsScalar(JsonNode? node) => node is null or JsonValue || (node is JsonArray array && array.All(e => e is JsonValue));

    private static string Cell(JsonNode? node) => node switch
    {
        null => "-",
        JsonValue value when value.TryGetValue<string>(out var s) => s,
        JsonArray array when array.All(e => e is JsonValue) => string.Join(' ', array.Select(e => Cell(e))),
        _ => node.ToJsonString(Pretty).ReplaceLineEndings(" "),
    };

    private static string Fit(string text, int width) => text.Length > width ? text[..(width - 1)] + "…" : text.PadRight(width);

    private static string? ReadTokenFile()
    {
        var path = Path.Combine("data", "admin-token");
        return File.Exists(path) ? File.ReadAllText(path).Trim() : null;
    }
}
