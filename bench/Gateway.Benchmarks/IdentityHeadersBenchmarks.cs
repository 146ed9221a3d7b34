using BenchmarkDotNet.Attributes;
using Gateway.Domain;
using Gateway.Proxy;
using Microsoft.AspNetCore.Http;

namespace Gateway.Benchmarks;

/// <summary>
/// Stripping client copies of identity headers and stamping the key's identity, on a fresh header
/// dictionary shaped like a browser or SDK request (12 headers, one spoofed <c>X-Org-Id</c>), and
/// stamping the key's identity onto the upstream request. The baseline only builds the dictionary and
/// the upstream request, so the difference is the cost of the two calls.
/// </summary>
[MemoryDiagnoser]
public class IdentityHeadersBenchmarks
{
    private static readonly KeyValuePair<string, string>[] RequestHeaders =
    [
        new("Host", "api.example.com"),
        new("User-Agent", "acme-sdk/2.4.1 (linux; dotnet 10.0)"),
        new("Accept", "application/json"),
        new("Accept-Encoding", "gzip, br"),
        new("Accept-Language", "en-US,en;q=0.9"),
        new("Connection", "keep-alive"),
        new("Content-Type", "application/json"),
        new("Content-Length", "128"),
        new("X-Request-Id", "0190f3c2a1b27c3d8e9f0a1b2c3d4e5f"),
        new("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"),
        new("X-Org-Id", "someone-else"),
        new("Authorization", "Bearer " + BenchData.ValidKey),
    ];

    private readonly CachedKey _key = new(BenchData.Record(BenchData.ValidKey));

    [Benchmark(Baseline = true)]
    public (IHeaderDictionary, HttpRequestMessage) BuildHeadersOnly() => (Build(), new HttpRequestMessage());

    [Benchmark]
    public (IHeaderDictionary, HttpRequestMessage) StripAndStamp()
    {
        var headers = Build();
        headers.Remove("Authorization");
        var upstream = new HttpRequestMessage();
        foreach (var (name, values) in headers)
        {
            // What YARP's copy of the client's headers does.
            upstream.Headers.TryAddWithoutValidation(name, (IEnumerable<string>)values!);
        }

        IdentityHeaders.RemoveReserved(upstream.Headers);
        IdentityHeaders.Stamp(upstream.Headers, _key);
        return (headers, upstream);
    }

    private static HeaderDictionary Build()
    {
        var headers = new HeaderDictionary(RequestHeaders.Length + 6);
        foreach (var (name, value) in RequestHeaders)
        {
            headers[name] = value;
        }

        return headers;
    }
}
