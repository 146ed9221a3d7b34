using System.Net;
using System.Text.Json.Nodes;
using Gateway.Stores;
using Gateway.Tests.Common;
using Microsoft.Extensions.DependencyInjection;

namespace Gateway.Tests.Keys;

/// <summary>
/// A rotation grace keeps the replaced plaintext working only while the key stays active: deactivating the
/// key ends the grace for good (so activating it again brings back the current plaintext only), a key rotated
/// while inactive gets no grace, and a second rotation keeps only the latest previous plaintext. Through a
/// real gateway on each store, checked on the proxy and in the stored record.
/// </summary>
[TestFixtureSource(typeof(StoreKinds), nameof(StoreKinds.All))]
public sealed class RotationGraceTests(StoreKind store) : GatewayFixture(store)
{
    protected override string OrgPrefix => "g";

    [Test]
    public async Task Activate_AfterDeactivateDuringGrace_OldPlaintextStaysRefused()
    {
        var created = await NewKeyAsync();
        var rotated = await Host.AdminPostAsync($"admin/keys/{Id(created)}/rotate", new { gracePeriod = "01:00:00" });
        Assert.That(await Host.StatusAsync(Plaintext(created)), Is.EqualTo(HttpStatusCode.OK), "in its grace");

        var deactivated = await Host.AdminPostAsync($"admin/keys/{Id(created)}/deactivate");
        Assert.That(deactivated["previousKeyExpiresAt"], Is.Null, "the grace ended with the deactivation");
        Assert.That(await Host.CodeAsync(Plaintext(created)), Is.EqualTo("invalid_key"));
        Assert.That(await Host.CodeAsync(Plaintext(rotated)), Is.EqualTo("key_inactive"));

        await Host.AdminPostAsync($"admin/keys/{Id(created)}/activate");

        Assert.That(await Host.CodeAsync(Plaintext(created)), Is.EqualTo("invalid_key"), "not revived by the activation");
        Assert.That(await Host.StatusAsync(Plaintext(rotated)), Is.EqualTo(HttpStatusCode.OK));
        var stored = await StoredAsync(Id(created));
        Assert.That(stored.PreviousHashExpiresAt, Is.LessThanOrEqualTo(DateTimeOffset.UtcNow), "ended in the store, not only in a cache");
    }

    [Test]
    public async Task Rotate_InactiveKeyWithGrace_ActivationBringsOnlyTheNewPlaintext()
    {
        var created = await NewKeyAsync();
        await Host.AdminPostAsync($"admin/keys/{Id(created)}/deactivate");

        var rotated = await Host.AdminPostAsync($"admin/keys/{Id(created)}/rotate", new { gracePeriod = "01:00:00" });
        await Host.AdminPostAsync($"admin/keys/{Id(created)}/activate");

        Assert.That(rotated["previousKeyExpiresAt"], Is.Null, "an inactive key's plaintext has nothing to keep working");
        Assert.That(await Host.CodeAsync(Plaintext(created)), Is.EqualTo("invalid_key"));
        Assert.That(await Host.StatusAsync(Plaintext(rotated)), Is.EqualTo(HttpStatusCode.OK));
    }

    [Test]
    public async Task Rotate_TwiceWithGrace_KeepsOnlyTheLatestPreviousPlaintext()
    {
        var created = await NewKeyAsync();
        var first = await Host.AdminPostAsync($"admin/keys/{Id(created)}/rotate", new { gracePeriod = "01:00:00" });

        var second = await Host.AdminPostAsync($"admin/keys/{Id(created)}/rotate", new { gracePeriod = "01:00:00" });

        Assert.That(await Host.CodeAsync(Plaintext(created)), Is.EqualTo("invalid_key"), "two rotations back");
        Assert.That(await Host.StatusAsync(Plaintext(first)), Is.EqualTo(HttpStatusCode.OK), "in its grace");
        Assert.That(await Host.StatusAsync(Plaintext(second)), Is.EqualTo(HttpStatusCode.OK));
    }

    [Test]
    public async Task Revoke_DuringGrace_NeitherPlaintextWorksAndTheGraceEndsInTheStore()
    {
        var created = await NewKeyAsync();
        var rotated = await Host.AdminPostAsync($"admin/keys/{Id(created)}/rotate", new { gracePeriod = "01:00:00" });

        await Host.AdminPostAsync($"admin/keys/{Id(created)}/revoke");

        Assert.That(await Host.CodeAsync(Plaintext(created)), Is.AnyOf("invalid_key", "key_revoked"));
        Assert.That(await Host.CodeAsync(Plaintext(rotated)), Is.EqualTo("key_revoked"));
        Assert.That((await StoredAsync(Id(created))).PreviousHashExpiresAt, Is.LessThanOrEqualTo(DateTimeOffset.UtcNow));
    }

    private async Task<JsonObject> NewKeyAsync()
    {
        var org = await NewOrgAsync();
        return await Host.CreateKeyAsync(org, new { name = "svc" });
    }

    private async Task<Gateway.Domain.ApiKeyRecord> StoredAsync(string id) =>
        (await Host.Services.GetRequiredService<IGatewayStore>().GetKeyAsync(id, CancellationToken.None))!;
}
