using Gateway.Domain;
using Gateway.Keys;

namespace Gateway.Webhooks;

/// <summary>
/// Audit entries for webhook changes (<c>webhook.create</c>, <c>webhook.update</c>, <c>webhook.delete</c>) in the
/// organization's log: a webhook chooses where the organization's key events go, so who pointed it where is as much
/// a security question as who changed a key. <c>webhookId</c> is always in the changes (as the <c>after</c> side, as in
/// <c>webhook.disabled</c>); the secret never is.
/// </summary>
internal static class WebhookAudit
{
    public const string Create = "webhook.create";
    public const string Update = "webhook.update";
    public const string Delete = "webhook.delete";

    /// <summary>The entry for <paramref name="before"/> becoming <paramref name="after"/> (null before: created; null after: deleted); null when nothing changed.</summary>
    public static AuditEntry? Entry(Webhook? before, Webhook? after, string actor, DateTimeOffset at)
    {
        var hook = after ?? before ?? throw new ArgumentException("A change needs a webhook on one side.");
        var changes = new AuditChanges()
            .Add("url", before?.Url, after?.Url)
            .Add("events", before?.Events, after?.Events)
            .Add("description", before?.Description, after?.Description)
            .Add("enabled", before?.Enabled, after?.Enabled);
        if (changes.IsEmpty)
        {
            return null;
        }

        // As webhook.disabled names it: the id as the "after" side, whatever the change.
        changes.Add("webhookId", null, hook.Id);
        var action = before is null ? Create : after is null ? Delete : Update;
        return new AuditEntry(AuditIds.New(), hook.OrgId, null, action, actor, at, changes.ToJson(), AuditCaller.Current);
    }
}
