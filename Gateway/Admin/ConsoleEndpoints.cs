using System.Collections.Frozen;
using Gateway.Configuration;
using Gateway.Http;
using Microsoft.Extensions.Options;

namespace Gateway.Admin;

/// <summary>
/// The admin web console: static files (a page, ES modules, a stylesheet) embedded in the assembly, served on the admin listener
/// under <c>/console/</c>. The page holds no secret; it calls the admin API with the token the operator types.
/// </summary>
internal static class ConsoleEndpoints
{
    private static readonly FrozenDictionary<string, (byte[] Body, string ContentType)> Files = Load();

    public static IEndpointRouteBuilder MapAdminConsole(this IEndpointRouteBuilder endpoints)
    {
        endpoints.MapGet("/console/{file?}", (string? file, HttpContext context) =>
        {
            if (!Files.TryGetValue(file ?? "index.html", out var asset))
            {
                return Results.NotFound();
            }

            var headers = context.Response.Headers;
            headers.ContentSecurityPolicy = "default-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";
            headers.XFrameOptions = "DENY";
            headers.CacheControl = "no-cache";
            headers["Referrer-Policy"] = "no-referrer";
            return Results.Bytes(asset.Body, asset.ContentType);
        }).OnAdminListener();
        return endpoints;
    }

    /// <summary>What the console needs to build its forms.</summary>
    public static RouteGroupBuilder MapSettingsApi(this RouteGroupBuilder admin)
    {
        admin.MapGet("/settings", (IOptionsMonitor<GatewayOptions> options) =>
        {
            var gateway = options.CurrentValue;
            return TypedResults.Ok(new SettingsDto(gateway.Environment, gateway.KeyPrefix, gateway.Scopes));
        }).WithTags("Settings").WithName("GetSettings")
            .RequireAdminRole(AdminRole.Viewer, OrgFrom.None);
        return admin;
    }

    // Every embedded file under console/ (the page, its ES modules, the stylesheet and the icon); a module
    // added to Admin/Console is served without touching this list.
    private static FrozenDictionary<string, (byte[], string)> Load()
    {
        var assembly = typeof(ConsoleEndpoints).Assembly;
        var files = new Dictionary<string, (byte[], string)>(StringComparer.Ordinal);
        foreach (var resource in assembly.GetManifestResourceNames().Where(n => n.StartsWith("console/", StringComparison.Ordinal)))
        {
            using var stream = assembly.GetManifestResourceStream(resource)!;
            using var buffer = new MemoryStream();
            stream.CopyTo(buffer);
            var type = Path.GetExtension(resource) switch
            {
                ".html" => "text/html; charset=utf-8",
                ".js" => "text/javascript; charset=utf-8",
                ".svg" => "image/svg+xml",
                _ => "text/css; charset=utf-8",
            };
            files[resource["console/".Length..]] = (buffer.ToArray(), type);
        }

        if (!files.ContainsKey("index.html"))
        {
            throw new InvalidOperationException("Embedded console file 'index.html' is missing.");
        }

        return files.ToFrozenDictionary(StringComparer.Ordinal);
    }
}
