// The load test's upstream: answers every request with 200 and a 13-byte text body, nothing else,
// so that what the load test measures is the proxy in front of it. Listens where ASPNETCORE_URLS says.
var builder = WebApplication.CreateSlimBuilder(args);
builder.WebHost.ConfigureKestrel(kestrel => kestrel.AddServerHeader = false);

var app = builder.Build();
var body = "hello, bench\n"u8.ToArray();
app.Run(context =>
{
    context.Response.ContentType = "text/plain";
    context.Response.ContentLength = body.Length;
    return context.Response.Body.WriteAsync(body).AsTask();
});
await app.RunAsync();
