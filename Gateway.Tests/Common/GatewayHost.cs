using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.Json.Nodes;
using Gateway.Hosting;
using Gateway.Http;
using Gateway.Keys;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Gateway.Tests.Common;

/// <summary>
/// A real gateway on real sockets: the same composition as Program.cs, Kestrel on free loopback ports,
/// its own SQLite file in a temp directory.
/// </summary>
public sealed class GatewayHost : IAsyncDisposable
{
    public const string AdminToken = "gw-admin-7Kq2Xv9Lm4Rt8Zp3Wn6Yb1Hc5Jd";

    private readonly WebApplication _app;

    private readonly CapturingLoggerProvider _errors;

    private GatewayHost(WebApplication app, string directory, CapturingLoggerProvider errors)
    {
        _app = app;
        _errors = errors;
        Directory = directory;
        var listeners = app.Services.GetRequiredService<Listeners>();
        ProxyUrl = new Uri($"http://127.0.0.1:{listeners.ProxyPort}/");
        AdminUrl = new Uri($"http://127.0.0.1:{listeners.AdminPort}/");
        Proxy = new HttpClient(new SocketsHttpHandler { UseCookies = false, AllowAutoRedirect = false }) { BaseAddress = ProxyUrl };
        Admin = new HttpClient(new SocketsHttpHandler { UseCookies = false }) { BaseAddress = AdminUrl };
        Admin.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", AdminToken);
    }

    public string Directory { get; }

    public Uri ProxyUrl { get; }

    public Uri AdminUrl { get; }

    /// <summary>A client for the proxy listener; callers set Authorization per request.</summary>
    public HttpClient Proxy { get; }

    /// <summary>A client for the admin listener carrying the admin token.</summary>
    public HttpClient Admin { get; }

    public IServiceProvider Services => _app.Services;

    /// <summary>
    /// What the host logged at Error and above (an unhandled exception behind a 500 among them), one line each, for
    /// assertion messages: a CI run that saw an unexpected status then says why.
    /// </summary>
    public string Errors => string.Join(Environment.NewLine, _errors.Entries.Select(e => e.Text));

    /// <summary>How many entries at Error and above carried <paramref name="eventId"/>.</summary>
    public int ErrorEvents(int eventId) => _errors.Entries.Count(e => e.EventId == eventId);

    /// <param name="settings">Configuration on top of the test defaults (flat keys, e.g. "Gateway:Environment").</param>
    /// <param name="services">Service overrides applied before AddGateway (e.g. a fake TimeProvider).</param>
    /// <param name="store">The store to run on. Redis uses <see cref="RedisServer.Shared"/> with <paramref name="redisPrefix"/> (unique per host unless given, so hosts sharing a prefix share data).</param>
    public static async Task<GatewayHost> StartAsync(
        IDictionary<string, string?>? settings = null,
        Action<IServiceCollection>? services = null,
        string? directory = null,
        StoreKind store = StoreKind.Sqlite,
        string? redisPrefix = null,
        Action<IConfigurationBuilder>? configure = null)
    {
        directory ??= Path.Combine(Path.GetTempPath(), "gw-tests", Guid.NewGuid().ToString("N"));
        System.IO.Directory.CreateDirectory(directory);

        var config = new Dictionary<string, string?>
        {
            ["Kestrel:Endpoints:Proxy:Url"] = "http://127.0.0.1:0",
            ["Kestrel:Endpoints:Admin:Url"] = "http://127.0.0.1:0",
            ["Gateway:Store:Path"] = Path.Combine(directory, "gateway.db"),
            ["Gateway:Admin:Token"] = AdminToken,
            ["Gateway:Scopes:0"] = "read",
            ["Gateway:Scopes:1"] = "write",
            ["Gateway:Scopes:2"] = "admin",
            ["Gateway:Demo:Enabled"] = "false",
            // Tests send many requests from 127.0.0.1; rate-limit tests set their own limits.
            ["Gateway:RateLimits:Ip:PermitLimit"] = "1000000",
            ["Gateway:RateLimits:Workspace:PermitLimit"] = "1000000",
        };
        if (store == StoreKind.Redis)
        {
            config["Gateway:Store:Redis"] = RedisServer.Shared.ConnectionString;
            config["Gateway:Store:RedisPrefix"] = redisPrefix ?? $"t{Guid.NewGuid():N}:";
        }

        if (settings is not null)
        {
            foreach (var (key, value) in settings)
            {
                config[key] = value;
            }
        }

        var builder = WebApplication.CreateBuilder(new WebApplicationOptions
        {
            EnvironmentName = "Testing",
            ContentRootPath = directory,
            Args = [],
        });
        builder.Configuration.AddInMemoryCollection(config);
        configure?.Invoke(builder.Configuration);
        builder.Logging.ClearProviders();
        builder.Logging.AddFilter(_ => false);
        var errors = new CapturingLoggerProvider(LogLevel.Error);
        errors.AddTo(builder.Services);
        services?.Invoke(builder.Services);
        builder.AddGateway();

        var app = builder.Build();
        try
        {
            app.UseGateway();
            await app.StartAsync();

            // The key cache's warm-up runs in the background from start. A test that creates keys while it reads
            // could find one cached before its first request: each test starts once the warm-up is done.
            var warmUp = app.Services.GetServices<IHostedService>().OfType<KeyCacheWarmUp>().Single();
            await (warmUp.ExecuteTask ?? Task.CompletedTask).WaitAsync(TimeSpan.FromSeconds(30));
        }
        catch
        {
            // A start that fails (bad settings) must not leave a half-built host behind.
            await app.DisposeAsync();
            throw;
        }

        return new GatewayHost(app, directory, errors);
    }

    /// <summary>Routes to <paramref name="upstream"/>: <c>route</c> → path pattern and metadata.</summary>
    public static Dictionary<string, string?> Routes(string upstream, params (string Id, string Path, (string Key, string Value)[] Metadata)[] routes)
    {
        var config = new Dictionary<string, string?>
        {
            ["ReverseProxy:Clusters:upstream:Destinations:d1:Address"] = upstream,
            ["ReverseProxy:Clusters:upstream:HttpRequest:ActivityTimeout"] = "00:00:15",
        };
        foreach (var (id, path, metadata) in routes)
        {
            config[$"ReverseProxy:Routes:{id}:ClusterId"] = "upstream";
            config[$"ReverseProxy:Routes:{id}:Match:Path"] = path;
            foreach (var (key, value) in metadata)
            {
                config[$"ReverseProxy:Routes:{id}:Metadata:{key}"] = value;
            }
        }

        return config;
    }

    public async Task<JsonObject> CreateOrgAsync(string id)
    {
        using var response = await Admin.PostAsJsonAsync("admin/orgs", new { id, name = id + " org" });
        await Expect(response, 201);
        return (await response.Content.ReadFromJsonAsync<JsonObject>())!;
    }

    /// <returns>The created key object, including the plaintext <c>key</c>.</returns>
    public async Task<JsonObject> CreateKeyAsync(string org, object body)
    {
        using var response = await Admin.PostAsJsonAsync($"admin/orgs/{org}/keys", body);
        await Expect(response, 201);
        return (await response.Content.ReadFromJsonAsync<JsonObject>())!;
    }

    public async Task<JsonObject> AdminPostAsync(string path, object? body = null, int expected = 200)
    {
        using var response = await Admin.PostAsync(path, body is null ? null : JsonContent.Create(body));
        await Expect(response, expected);
        return (await response.Content.ReadFromJsonAsync<JsonObject>())!;
    }

    public async Task<JsonObject> AdminGetAsync(string path)
    {
        using var response = await Admin.GetAsync(path);
        await Expect(response, 200);
        return (await response.Content.ReadFromJsonAsync<JsonObject>())!;
    }

    /// <summary>A GET through the proxy with the given bearer key (none when null).</summary>
    public async Task<HttpResponseMessage> CallAsync(string path, string? key, Action<HttpRequestMessage>? configure = null)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, path);
        if (key is not null)
        {
            request.Headers.TryAddWithoutValidation("Authorization", "Bearer " + key);
        }

        configure?.Invoke(request);
        return await Proxy.SendAsync(request);
    }

    /// <summary>The status of a GET through the proxy with <paramref name="key"/> (no Authorization when null).</summary>
    public async Task<HttpStatusCode> StatusAsync(string? key, string path = "/api/x")
    {
        using var response = await CallAsync(path, key);
        return response.StatusCode;
    }

    /// <summary>The problem <c>code</c> of a refused GET through the proxy.</summary>
    public async Task<string> CodeAsync(string? key, string path = "/api/x")
    {
        using var response = await CallAsync(path, key);
        Assert.That((int)response.StatusCode, Is.InRange(400, 599), "expected a refusal");
        return (await ProblemAsync(response))["code"]!.GetValue<string>();
    }

    /// <summary>Polls <paramref name="condition"/> until it holds, failing after <paramref name="within"/> (see <see cref="Eventually"/>).</summary>
    public static Task WaitForAsync(Func<Task<bool>> condition, TimeSpan within) => Eventually.HoldsAsync(condition, within);

    public static async Task<JsonObject> ProblemAsync(HttpResponseMessage response)
    {
        Assert.That(response.Content.Headers.ContentType?.MediaType, Is.EqualTo("application/problem+json"));
        return (await response.Content.ReadFromJsonAsync<JsonObject>())!;
    }

    /// <summary>Stops the gateway but keeps its directory (store file), for a restart on the same store.</summary>
    public async Task StopForRestartAsync()
    {
        Proxy.Dispose();
        Admin.Dispose();
        await _app.StopAsync();
        await _app.DisposeAsync();
    }

    public async ValueTask DisposeAsync()
    {
        Proxy.Dispose();
        Admin.Dispose();
        await _app.StopAsync();
        await _app.DisposeAsync();
        try
        {
            System.IO.Directory.Delete(Directory, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    /// <summary>Fails unless <paramref name="response"/> has <paramref name="status"/>, saying what the host logged as errors.</summary>
    public async Task Expect(HttpResponseMessage response, int status)
    {
        if ((int)response.StatusCode != status)
        {
            Assert.Fail($"Expected {status}, got {(int)response.StatusCode}: {await response.Content.ReadAsStringAsync()}{Environment.NewLine}{Errors}");
        }
    }

    internal static JsonSerializerOptions Json { get; } = new(JsonSerializerDefaults.Web);
}
