using System.Text.Json;
using System.Text.Json.Serialization;
using System.Text.RegularExpressions;
using Gateway.Admin;
using Gateway.Domain;
using Gateway.Observability;
using Gateway.Stores;
using Microsoft.AspNetCore.Http.HttpResults;

namespace Gateway.Operators;

/// <summary>
/// <c>/admin/tokens</c>: owners create, list and revoke operator tokens. An owner scoped to an organization
/// sees and makes only tokens of that organization; org-less tokens come only from the bootstrap token or an
/// org-less owner.
/// </summary>
internal sealed partial class OperatorEndpoints : IAdminApi
{
    private static readonly string[] CreateFields = AdminRequests.Members(OperatorJsonContext.Default.CreateTokenRequest);

    public void Map(RouteGroupBuilder admin)
    {
        var tokens = admin.MapGroup("/tokens").WithTags("Tokens");
        tokens.MapPost("/", CreateAsync).WithName("CreateToken")
            .RequireAdminRole(AdminRole.Owner, OrgFrom.None)
            .AcceptsAdminBody<CreateTokenRequest>()
            .ProducesAdminProblem(StatusCodes.Status400BadRequest, StatusCodes.Status404NotFound, StatusCodes.Status409Conflict, StatusCodes.Status413PayloadTooLarge);
        tokens.MapGet("/", ListAsync).WithName("ListTokens")
            .RequireAdminRole(AdminRole.Owner, OrgFrom.None)
            .WithQueryParameters(AdminListPages.Parameters("tokens"))
            .ProducesAdminProblem(StatusCodes.Status400BadRequest);
        tokens.MapPost("/{id}/revoke", RevokeAsync).WithName("RevokeToken")
            .RequireAdminRole(AdminRole.Owner, new OrgFromToken("id"))
            .ProducesAdminProblem(StatusCodes.Status404NotFound);

        // The console asks who signed in to choose its landing page and hide what the caller may not do.
        admin.MapGet("/me", Me).WithName("GetMe").WithTags("Tokens").RequireAnyAdminRole();
    }

    private static Ok<CallerDto> Me(HttpContext context)
    {
        var caller = AdminPrincipal.Of(context);

        // A console session's CSRF token, for the X-Gateway-Csrf header of its unsafe calls; a token caller needs none.
        var csrf = caller.IsSession ? context.RequestServices.GetService<IAdminCsrfTokens>()?.Issue(context) : null;
        return TypedResults.Ok(new CallerDto(caller.Name, caller.Role.Name(), caller.Org, caller.Via, caller.TokenId) { Csrf = csrf });
    }

    private static async Task<Results<Created<OperatorTokenDto>, AdminProblem>> CreateAsync(
        HttpContext context, IOperatorTokenStore store, IGatewayStore gateway, TimeProvider time, ILogger<OperatorEndpoints> logger)
    {
        // To the stored precision, so the answer shows the times a later read does.
        var now = KeyRules.ToStoredPrecision(time.GetUtcNow());
        var (request, error) = await AdminRequests.ReadAsync(context.Request, allowEmpty: false, (body, errors) => Parse(body, now, errors));
        if (error is not null)
        {
            return error;
        }

        var (name, role, org, expiresAt) = request!.Value;
        var caller = AdminPrincipal.Of(context);
        if (org is null && caller.Org is not null)
        {
            return AdminProblems.Forbidden();
        }

        if (org is not null && (!caller.Sees(org) || await gateway.GetOrganizationAsync(org, CancellationToken.None) is null))
        {
            return AdminProblems.NotFound($"Organization '{org}' does not exist.");
        }

        var plaintext = OperatorTokenFormat.NewToken();
        var token = new OperatorToken(
            OperatorTokenFormat.NewId(), name, role, org, OperatorTokenFormat.Hash(plaintext), plaintext[..OperatorTokenFormat.DisplayLength],
            AdminActor.From(context), now, expiresAt is { } e ? KeyRules.ToStoredPrecision(e) : null, null, null);

        // Not the caller's token: once the body is read the token is made, even if the client leaves.
        await store.CreateAsync(token, OperatorAudit.Entry(token, "token.create", token.CreatedBy ?? "admin", now), CancellationToken.None);
        var createdBy = token.CreatedBy ?? "admin";
        Log.Created(logger, token.Id, token.Name, role, org ?? "*", createdBy);
        context.Response.Headers.CacheControl = "no-store";
        return TypedResults.Created((string?)null, OperatorTokenDto.From(token, now) with { Token = plaintext });
    }

    private static async Task<Results<Ok<ListDto<OperatorTokenDto>>, AdminProblem>> ListAsync(HttpContext context, IOperatorTokenStore store, TimeProvider time, CancellationToken cancellationToken)
    {
        if (!AdminListPages.TryReadTimed(context.Request.Query, "tokens", out var request, out var after, out var problem))
        {
            return problem!;
        }

        // The store leaves out other organizations' tokens, so a page of an organization's owner is full.
        var tokens = await store.ListAfterAsync(AdminPrincipal.Of(context).Org, after, AdminListPages.ReadCount(request), cancellationToken);
        var now = time.GetUtcNow();
        return TypedResults.Ok(AdminListPages.Page(tokens, request, "tokens", t => AdminListPages.TimedKey(t.CreatedAt, t.Id), t => OperatorTokenDto.From(t, now)));
    }

    private static async Task<Results<Ok<OperatorTokenDto>, AdminProblem>> RevokeAsync(
        string id, HttpContext context, IOperatorTokenStore store, OperatorTokenAuthenticator authenticator, TimeProvider time, ILogger<OperatorEndpoints> logger)
    {
        var now = KeyRules.ToStoredPrecision(time.GetUtcNow());
        var actor = AdminActor.From(context);
        var token = await store.RevokeAsync(id, now, t => OperatorAudit.Entry(t, "token.revoke", actor, now), CancellationToken.None);
        if (token is null)
        {
            return AdminProblems.NotFound($"Admin token '{id}' does not exist.");
        }

        // Other instances re-read within OperatorTokenAuthenticator.FreshFor; this one stops at once.
        authenticator.Forget(token.Hash);
        Log.Revoked(logger, token.Id, token.Name, actor);
        return TypedResults.Ok(OperatorTokenDto.From(token, now));
    }

    private static (string Name, AdminRole Role, string? Org, DateTimeOffset? ExpiresAt)? Parse(JsonElement body, DateTimeOffset now, ValidationErrors errors)
    {
        JsonFields.RejectUnknown(body, errors, CreateFields);
        var (_, name) = JsonFields.String(body, "name", errors, maxLength: 64);
        var (_, roleText) = JsonFields.String(body, "role", errors, maxLength: 16);
        var (_, org) = JsonFields.String(body, "org", errors, allowNull: true, maxLength: 64);
        var (_, expiresAt) = JsonFields.Timestamp(body, "expiresAt", errors);
        if (name is null && !errors.All.ContainsKey("name"))
        {
            errors.Add("name", "Required.");
        }
        else if (name is not null && !TokenName().IsMatch(name))
        {
            errors.Add("name", "Must match ^[A-Za-z0-9][A-Za-z0-9 ._@+-]{0,63}$.");
        }
        else if (name is not null && ReservedNames.Contains(name))
        {
            // The audit log's actor for the bootstrap token and for the gateway's own changes: a token of that name
            // would make its entries look like theirs.
            errors.Add("name", $"'{name}' is reserved: the audit log names the bootstrap token and the gateway itself so.");
        }

        var role = AdminRoles.Parse(roleText);
        if (role is null && !errors.All.ContainsKey("role"))
        {
            errors.Add("role", roleText is null ? "Required: one of verifier, viewer, admin, owner." : "Must be one of verifier, viewer, admin, owner.");
        }

        if (org is not null && !JsonFields.OrgId().IsMatch(org))
        {
            errors.Add("org", "Must match ^[A-Za-z0-9_-]{1,64}$.");
        }

        if (expiresAt is { } e && e <= now)
        {
            errors.Add("expiresAt", "Must be in the future.");
        }

        return errors.Any ? null : (name!, role!.Value, org, expiresAt);
    }

    private static readonly HashSet<string> ReservedNames = new(["admin", "gateway"], StringComparer.OrdinalIgnoreCase);

    [GeneratedRegex("^[A-Za-z0-9][A-Za-z0-9 ._@+-]{0,63}$")]
    private static partial Regex TokenName();

    private static partial class Log
    {
        [LoggerMessage(EventId = EventIds.OperatorTokenCreated, Level = LogLevel.Information, Message = "Admin token {TokenId} '{Name}' created with role {Role} for organization {Org} by {Actor}.")]
        public static partial void Created(ILogger logger, string tokenId, string name, AdminRole role, string org, string actor);

        [LoggerMessage(EventId = EventIds.OperatorTokenRevoked, Level = LogLevel.Information, Message = "Admin token {TokenId} '{Name}' revoked by {Actor}.")]
        public static partial void Revoked(ILogger logger, string tokenId, string name, string actor);
    }
}

/// <summary>
/// Audit entries for operator tokens: in the token's organization's log, or, for a token of every organization, in the
/// gateway-wide log <c>*</c> (<c>GET /admin/audit?org=*</c>, for callers without an organization). The actor is the caller.
/// </summary>
internal static class OperatorAudit
{
    public const string AllOrgs = "*";

    public static AuditEntry Entry(OperatorToken token, string action, string actor, DateTimeOffset at)
    {
        var changes = JsonSerializer.Serialize(new Dictionary<string, string?>
        {
            ["tokenId"] = token.Id,
            ["name"] = token.Name,
            ["role"] = token.Role.Name(),
            ["org"] = token.Org,
        }, OperatorJsonContext.Default.DictionaryStringString);
        return new AuditEntry("aud_" + Gateway.Keys.Base62.Random(20), token.Org ?? AllOrgs, null, action, actor, at, changes, Gateway.Keys.AuditCaller.Current);
    }
}

/// <summary>The route value <paramref name="name"/> is an operator token id; the token's organization decides.</summary>
internal sealed class OrgFromToken(string name) : OrgFrom
{
    public override async ValueTask<OrgDecision> DecideAsync(HttpContext context, string scope)
    {
        var id = context.Request.RouteValues[name] as string;
        if (string.IsNullOrEmpty(id))
        {
            return OrgDecision.Allowed;
        }

        var token = await context.RequestServices.GetRequiredService<IOperatorTokenStore>().GetAsync(id, context.RequestAborted);
        return token is null || token.Org == scope ? OrgDecision.Allowed : OrgDecision.Hide($"Admin token '{id}' does not exist.");
    }
}

/// <summary><c>POST /admin/tokens</c>: <c>org</c> absent or null makes a token for every organization.</summary>
internal sealed record CreateTokenRequest(string Name, string Role, string? Org = null, DateTimeOffset? ExpiresAt = null);

/// <summary>An operator token as the admin API shows it; <see cref="Token"/> (the plaintext) only in the create response.</summary>
internal sealed record OperatorTokenDto(
    string Id,
    string Name,
    string Role,
    string? Org,
    string Prefix,
    string Status,
    string? CreatedBy,
    DateTimeOffset CreatedAt,
    DateTimeOffset? ExpiresAt,
    DateTimeOffset? LastUsedAt,
    DateTimeOffset? RevokedAt)
{
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? Token { get; init; }

    public static OperatorTokenDto From(OperatorToken token, DateTimeOffset now) => new(
        token.Id, token.Name, token.Role.Name(), token.Org, token.Prefix, token.Status(now),
        token.CreatedBy, token.CreatedAt, token.ExpiresAt, token.LastUsedAt, token.RevokedAt);
}

/// <summary><c>GET /admin/me</c>: who the caller is; <see cref="Via"/> is <c>bootstrap</c>, <c>token</c> or <c>oidc</c>.</summary>
internal sealed record CallerDto(string Name, string Role, string? Org, string Via, string? TokenId)
{
    /// <summary>Only for a console session (<c>oidc</c>): the value its POST, PATCH and DELETE calls send as <c>X-Gateway-Csrf</c>.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? Csrf { get; init; }
}

[JsonSourceGenerationOptions(JsonSerializerDefaults.Web, WriteIndented = false)]
[JsonSerializable(typeof(CallerDto))]
[JsonSerializable(typeof(OperatorTokenDto))]
[JsonSerializable(typeof(ListDto<OperatorTokenDto>))]
[JsonSerializable(typeof(CreateTokenRequest))]
[JsonSerializable(typeof(Dictionary<string, string?>))]
internal sealed partial class OperatorJsonContext : JsonSerializerContext;
