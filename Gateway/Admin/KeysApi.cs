using Gateway.Configuration;
using Gateway.Domain;
using Gateway.Keys;
using Gateway.Stores;
using Microsoft.Extensions.Options;

namespace Gateway.Admin;

internal static class KeysApi
{
    public static RouteGroupBuilder MapKeysApi(this RouteGroupBuilder admin)
    {
        admin.MapPost("/orgs/{org}/keys", CreateAsync).WithTags("Keys");
        admin.MapGet("/orgs/{org}/keys", ListAsync).WithTags("Keys");

        var keys = admin.MapGroup("/keys").WithTags("Keys");
        keys.MapGet("/{id}", GetAsync);
        keys.MapPatch("/{id}", PatchAsync);
        keys.MapPost("/{id}/rotate", RotateAsync);
        keys.MapPost("/{id}/deactivate", (string id, HttpContext context, KeyManager manager, KeyUsageTracker usage, TimeProvider time) =>
            Transition(manager.DeactivateAsync(id, AdminActor.From(context), context.RequestAborted), usage, time));
        keys.MapPost("/{id}/activate", (string id, HttpContext context, KeyManager manager, KeyUsageTracker usage, TimeProvider time) =>
            Transition(manager.ActivateAsync(id, AdminActor.From(context), context.RequestAborted), usage, time));
        keys.MapPost("/{id}/revoke", (string id, HttpContext context, KeyManager manager, KeyUsageTracker usage, TimeProvider time) =>
            Transition(manager.RevokeAsync(id, AdminActor.From(context), context.RequestAborted), usage, time));
        return admin;
    }

    private static async Task<IResult> CreateAsync(string org, HttpContext context, KeyManager manager, IOptionsMonitor<GatewayOptions> options, TimeProvider time)
    {
        var (draft, error) = await AdminRequests.ReadAsync(context.Request, allowEmpty: false, (body, errors) => AdminRequests.CreateKey(body, options.CurrentValue, time.GetUtcNow(), errors));
        if (error is not null)
        {
            return error;
        }

        var issued = await manager.CreateKeyAsync(org, draft!, AdminActor.From(context, draft!.CreatedBy), context.RequestAborted);
        return Results.Json(KeyDto.From(issued.Record, time.GetUtcNow(), plaintext: issued.Plaintext), AdminJsonContext.Default.KeyDto, statusCode: StatusCodes.Status201Created);
    }

    private static async Task<IResult> ListAsync(string org, IGatewayStore store, KeyUsageTracker usage, TimeProvider time, CancellationToken cancellationToken)
    {
        if (await store.GetOrganizationAsync(org, cancellationToken) is null)
        {
            return AdminProblems.NotFound($"Organization '{org}' does not exist.");
        }

        var now = time.GetUtcNow();
        var keys = await store.ListKeysAsync(org, cancellationToken);
        return Results.Json(new ListDto<KeyDto>(keys.Select(k => KeyDto.From(k, now, usage.Pending(k.Id))).ToList()), AdminJsonContext.Default.ListDtoKeyDto);
    }

    private static async Task<IResult> GetAsync(string id, IGatewayStore store, KeyUsageTracker usage, TimeProvider time, CancellationToken cancellationToken)
    {
        var key = await store.GetKeyAsync(id, cancellationToken);
        return key is null
            ? AdminProblems.NotFound($"Key '{id}' does not exist.")
            : Results.Json(KeyDto.From(key, time.GetUtcNow(), usage.Pending(key.Id)), AdminJsonContext.Default.KeyDto);
    }

    private static async Task<IResult> PatchAsync(string id, HttpContext context, KeyManager manager, KeyUsageTracker usage, IOptionsMonitor<GatewayOptions> options, TimeProvider time)
    {
        var (patch, error) = await AdminRequests.ReadAsync(context.Request, allowEmpty: false, (body, errors) => AdminRequests.PatchKey(body, options.CurrentValue, time.GetUtcNow(), errors));
        return error ?? await Transition(manager.UpdateAsync(id, patch!, AdminActor.From(context), context.RequestAborted), usage, time);
    }

    private static async Task<IResult> RotateAsync(string id, HttpContext context, KeyManager manager, TimeProvider time)
    {
        var (grace, error) = await AdminRequests.ReadAsync(context.Request, allowEmpty: true, AdminRequests.Rotate);
        if (error is not null)
        {
            return error;
        }

        var issued = await manager.RotateAsync(id, grace!.Value, AdminActor.From(context), context.RequestAborted);
        return Results.Json(KeyDto.From(issued.Record, time.GetUtcNow(), plaintext: issued.Plaintext), AdminJsonContext.Default.KeyDto);
    }

    private static async Task<IResult> Transition(Task<ApiKeyRecord> operation, KeyUsageTracker usage, TimeProvider time)
    {
        var key = await operation;
        return Results.Json(KeyDto.From(key, time.GetUtcNow(), usage.Pending(key.Id)), AdminJsonContext.Default.KeyDto);
    }
}
