using System.Net.Sockets;
using System.Text;

namespace Gateway.Tests.Proxy;

/// <summary>
/// HTTP/1.1 written byte for byte on a TCP socket: for request targets HttpClient would normalize, and
/// bodies it would never send (bad chunk framing, a body cut short).
/// </summary>
internal static class RawHttp
{
    /// <summary>Sends <paramref name="request"/> and reads one response (headers and Content-Length body).</summary>
    public static async Task<RawResponse> SendAsync(Uri server, string request, byte[]? body = null)
    {
        using var client = new TcpClient();
        await client.ConnectAsync(server.Host, server.Port);
        var stream = client.GetStream();
        await stream.WriteAsync(Encoding.Latin1.GetBytes(request));
        if (body is not null)
        {
            await stream.WriteAsync(body);
        }

        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(15));
        var received = new MemoryStream();
        var chunk = new byte[16 * 1024];
        while (true)
        {
            if (Parse(received.ToArray()) is { } response)
            {
                return response;
            }

            int read;
            try
            {
                read = await stream.ReadAsync(chunk, deadline.Token);
            }
            catch (IOException)
            {
                read = 0;
            }

            if (read == 0)
            {
                return Parse(received.ToArray()) ?? throw new IOException("connection closed before a whole response: " + Encoding.Latin1.GetString(received.ToArray()));
            }

            received.Write(chunk, 0, read);
        }
    }

    /// <summary>A GET of <paramref name="target"/> as sent, with an optional bearer key.</summary>
    public static Task<RawResponse> GetAsync(Uri server, string target, string? key = null) =>
        SendAsync(server, $"GET {target} HTTP/1.1\r\nHost: localhost\r\n{(key is null ? "" : $"Authorization: Bearer {key}\r\n")}Connection: close\r\n\r\n");

    private static RawResponse? Parse(byte[] bytes)
    {
        var text = Encoding.Latin1.GetString(bytes);
        var end = text.IndexOf("\r\n\r\n", StringComparison.Ordinal);
        if (end < 0)
        {
            return null;
        }

        var lines = text[..end].Split("\r\n");
        var headers = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        foreach (var line in lines.Skip(1))
        {
            var colon = line.IndexOf(':');
            headers[line[..colon].Trim()] = line[(colon + 1)..].Trim();
        }

        var length = headers.TryGetValue("Content-Length", out var l) ? int.Parse(l, System.Globalization.CultureInfo.InvariantCulture) : 0;
        if (text.Length - end - 4 < length)
        {
            return null;
        }

        return new RawResponse(int.Parse(lines[0].Split(' ')[1], System.Globalization.CultureInfo.InvariantCulture), headers, text.Substring(end + 4, length));
    }
}

internal sealed record RawResponse(int Status, IReadOnlyDictionary<string, string> Headers, string Body)
{
    public string? Code => Headers.TryGetValue("Content-Type", out var type) && type.StartsWith("application/problem+json", StringComparison.Ordinal)
        ? System.Text.Json.Nodes.JsonNode.Parse(Body)?["code"]?.GetValue<string>()
        : null;
}
