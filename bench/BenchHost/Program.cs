// The comparison points of bench/load.sh (and, over HTTPS with BENCH_TLS_CERT/BENCH_TLS_KEY, of bench/tls.sh):
//   upstream <port>                : a minimal Kestrel app answering 200 "ok"
//   proxy <port> <upstream-url>    : a plain YARP proxy (same YARP version, no auth, no limits)
//   proxy <port> <upstream-url> headers : the same, also sending the headers the gateway adds (fixed
//                                    identity headers and a request id upstream, a request id and
//                                    X-RateLimit-* to the client): what those headers alone cost
using Yarp.ReverseProxy.Configuration;
using Yarp.ReverseProxy.Transforms;

var mode = args.Length > 0 ? args[0] : "upstream";
var port = args.Length > 1 ? args[1] : "9100";
var builder = WebApplication.CreateEmptyBuilder(new WebApplicationOptions());
builder.WebHost.UseKestrelCore();
// BENCH_TLS_CERT and BENCH_TLS_KEY (PEM files): HTTPS with HTTP/1.1 and HTTP/2 instead of plain HTTP, so bench/tls.sh
// can set plain YARP over TLS beside nginx and the gateway: the ceiling of a YARP-based proxy at a TLS edge.
if (Environment.GetEnvironmentVariable("BENCH_TLS_CERT") is { Length: > 0 } certPath)
{
    var certificate = System.Security.Cryptography.X509Certificates.X509Certificate2.CreateFromPemFile(
        certPath, Environment.GetEnvironmentVariable("BENCH_TLS_KEY"));
    builder.WebHost.UseKestrelHttpsConfiguration().ConfigureKestrel(kestrel =>
        kestrel.Listen(System.Net.IPAddress.Loopback, int.Parse(port, System.Globalization.CultureInfo.InvariantCulture), listen =>
        {
            listen.Protocols = Microsoft.AspNetCore.Server.Kestrel.Core.HttpProtocols.Http1AndHttp2;
            listen.UseHttps(certificate);
        }));
}
else
{
    builder.WebHost.UseUrls($"http://127.0.0.1:{port}");
}

// Kestrel runs continuations inline when the runtime inlines socket completions, as ASP.NET Core's own
// benchmarks do: what plain YARP gains from both (VARIANT in bench/load.sh; the gateway does not take it).
builder.WebHost.UseSockets(o => o.UnsafePreferInlineScheduling =
    OperatingSystem.IsLinux() && Environment.GetEnvironmentVariable("DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS") == "1");
builder.Services.AddRoutingCore();

if (mode == "proxy")
{
    var proxy = builder.Services.AddReverseProxy();
    if (args.Length > 3 && args[3] == "headers")
    {
        proxy.AddTransforms(context =>
        {
            context.AddRequestTransform(static transform =>
            {
                var headers = transform.ProxyRequest.Headers;
                headers.TryAddWithoutValidation("X-Request-Id", RequestId());
                headers.TryAddWithoutValidation("X-Org-Id", "bench");
                headers.TryAddWithoutValidation("X-Key-Id", "key_0123456789abcdef0123");
                headers.TryAddWithoutValidation("X-Key-Name", "default");
                headers.TryAddWithoutValidation("X-Key-Scopes", "*");
                headers.TryAddWithoutValidation("X-Key-Environment", "production");
                return ValueTask.CompletedTask;
            });
            context.AddResponseTransform(static transform =>
            {
                var headers = transform.HttpContext.Response.Headers;
                headers["X-Request-Id"] = RequestId();
                headers["X-RateLimit-Limit"] = "1000000000";
                headers["X-RateLimit-Remaining"] = (999_999_000 + Random.Shared.Next(1000)).ToString(System.Globalization.CultureInfo.InvariantCulture);
                headers["X-RateLimit-Reset"] = "60";
                return ValueTask.CompletedTask;
            });
        });
    }

    // 32 hex digits from a non-cryptographic generator, as the gateway makes its request ids (Guid.NewGuid
    // would read the operating system's random source on every call).
    static string RequestId()
    {
        Span<byte> bytes = stackalloc byte[16];
        Random.Shared.NextBytes(bytes);
        return Convert.ToHexStringLower(bytes);
    }

    proxy.LoadFromMemory(
        [new RouteConfig { RouteId = "all", ClusterId = "upstream", Match = new RouteMatch { Path = "/{**rest}" } }],
        [new ClusterConfig { ClusterId = "upstream", Destinations = new Dictionary<string, DestinationConfig> { ["d1"] = new() { Address = args[2] } } }]);
    var app = builder.Build();
    app.UseRouting();
    app.MapReverseProxy();
    await app.RunAsync();
}
else
{
    var app = builder.Build();
    var body = "ok"u8.ToArray();
    app.Run(context =>
    {
        context.Response.ContentType = "text/plain";
        context.Response.ContentLength = body.Length;
        return context.Response.Body.WriteAsync(body).AsTask();
    });
    await app.RunAsync();
}
