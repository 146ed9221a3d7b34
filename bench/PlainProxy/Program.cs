// The load test's reference point: YARP with the same version and defaults as the gateway, routes and
// clusters from the ReverseProxy section (environment variables in bench/load.sh), and no
// authentication, request id, listener split or metrics. Listens where ASPNETCORE_URLS says.
var builder = WebApplication.CreateBuilder(args);
builder.WebHost.ConfigureKestrel(kestrel => kestrel.AddServerHeader = false);
builder.Services.AddReverseProxy().LoadFromConfig(builder.Configuration.GetSection("ReverseProxy"));

var app = builder.Build();
app.MapReverseProxy();
await app.RunAsync();
