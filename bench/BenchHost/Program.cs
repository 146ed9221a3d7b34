// The two comparison points of bench/load.sh:
//   upstream <port>                : a minimal Kestrel app answering 200 "ok"
//   proxy <port> <upstream-url>    : a plain YARP proxy (same YARP version, no auth, no limits)
using Yarp.ReverseProxy.Configuration;

var mode = args.Length > 0 ? args[0] : "upstream";
var port = args.Length > 1 ? args[1] : "9100";
var builder = WebApplication.CreateEmptyBuilder(new WebApplicationOptions());
builder.WebHost.UseKestrelCore().UseUrls($"http://127.0.0.1:{port}");
builder.Services.AddRoutingCore();

if (mode == "proxy")
{
    builder.Services.AddReverseProxy().LoadFromMemory(
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
