using System.Net;
using System.Text.Json.Nodes;
using Gateway.Tests.Common;
using Gateway.Tests.Operators;
using Gateway.Tests.Webhooks;
using Microsoft.Extensions.DependencyInjection;

namespace Gateway.Tests.Admin;

/// <summary>
/// Cursor pages of the operator token, webhook and delivery lists (docs/admin-api.md, "Lists and pages"), on both
/// stores: the same <c>limit</c> and <c>cursor</c> as the organization, key and customer lists.
/// </summary>
[TestFixtureSource(typeof(StoreKinds), nameof(StoreKinds.All))]
public sealed class TokenAndWebhookPagingTests(StoreKind store) : GatewayFixture(store)
{
    private readonly WebhookReceiver _receiver = new();

    protected override string OrgPrefix => "hookpage";

    protected override Dictionary<string, string?> Settings(string upstream)
    {
        var settings = base.Settings(upstream);
        foreach (var (name, value) in WebhookDeliveryTests.FastSettings())
        {
            settings[name] = value;
        }

        return settings;
    }

    [OneTimeTearDown]
    public void StopReceiver() => _receiver.Dispose();

    [Test]
    public async Task Tokens_PagedWithLimitThree_AreTheWholeListInOrder_AnOrgOwnerPagesOnlyItsOwn()
    {
        var org = await NewOrgAsync();
        for (var i = 0; i < 5; i++)
        {
            await Host.CreateTokenAsync($"{org}-all{i}", "viewer");
            await Host.CreateTokenAsync($"{org}-own{i}", "viewer", org);
        }

        var whole = await Host.AdminGetAsync("admin/tokens");
        var pages = await PagesAsync(Host.Admin, "admin/tokens?limit=3");
        using var owner = await Host.OperatorAsync($"{org}-owner", "owner", org);
        var own = Ids(await GetAsync(owner, "admin/tokens"));
        var ownPages = await PagesAsync(owner, "admin/tokens?limit=2");

        Assert.Multiple(() =>
        {
            Assert.That(whole.ContainsKey("nextCursor") && whole["nextCursor"] is null, Is.True, "the whole list says there is no next page");
            Assert.That(pages.Take(pages.Count - 1).Select(p => p.Count), Is.All.EqualTo(3));
            Assert.That(pages.SelectMany(p => p), Is.EqualTo(Ids(whole)), "the pages together are the list, in its order");
            Assert.That(own, Has.Count.EqualTo(6), "the organization's five and its owner");
            Assert.That(ownPages.Select(p => p.Count), Is.EqualTo(new[] { 2, 2, 2 }));
            Assert.That(ownPages.SelectMany(p => p), Is.EqualTo(own), "an organization's owner pages its own tokens only");
        });
    }

    [Test]
    public async Task Tokens_AddedBetweenPages_EveryTokenOnceAtMost_NoneSkipped()
    {
        var org = await NewOrgAsync();
        for (var i = 0; i < 4; i++)
        {
            await Host.CreateTokenAsync($"{org}-t{i}", "viewer");
        }

        var before = Ids(await Host.AdminGetAsync("admin/tokens"));
        var first = await Host.AdminGetAsync("admin/tokens?limit=2");
        var added = (await Host.CreateTokenAsync($"{org}-late", "viewer")).Str("id");
        var seen = Ids(first).Concat(await RestAsync(Host.Admin, "admin/tokens?limit=2", first)).ToList();

        Assert.Multiple(() =>
        {
            Assert.That(seen, Is.Unique);
            Assert.That(before.Except(seen), Is.Empty, "a token that existed throughout was skipped");
            Assert.That(seen.Count(id => id == added), Is.EqualTo(1), "created after the cursor, it sorts after it");
        });
    }

    [Test]
    public async Task Webhooks_PagedWithLimitTwo_AreTheWholeList_OneAddedBetweenPagesShowsOnce()
    {
        var org = await NewOrgAsync();
        for (var i = 0; i < 5; i++)
        {
            await WebhookDeliveryTests.CreateWebhookAsync(Host, org, _receiver.Url, "key.revoked");
        }

        var whole = await Host.AdminGetAsync($"admin/orgs/{org}/webhooks");
        var pages = await PagesAsync(Host.Admin, $"admin/orgs/{org}/webhooks?limit=2");
        var first = await Host.AdminGetAsync($"admin/orgs/{org}/webhooks?limit=2");
        var (added, _) = await WebhookDeliveryTests.CreateWebhookAsync(Host, org, _receiver.Url, "key.revoked");
        var seen = Ids(first).Concat(await RestAsync(Host.Admin, $"admin/orgs/{org}/webhooks?limit=2", first)).ToList();

        Assert.Multiple(() =>
        {
            Assert.That(whole.ContainsKey("nextCursor") && whole["nextCursor"] is null, Is.True, "the whole list says there is no next page");
            Assert.That(pages.Select(p => p.Count), Is.EqualTo(new[] { 2, 2, 1 }));
            Assert.That(pages.SelectMany(p => p), Is.EqualTo(Ids(whole)), "the pages together are the list, in its order");
            Assert.That(seen, Is.EqualTo(Ids(whole).Append(added)), "no repeat, no skip, the new one last");
        });
    }

    [Test]
    public async Task Deliveries_PagedWithLimitTwo_NewestFirst_OneAddedBetweenPagesMovesNoOther()
    {
        var org = await NewOrgAsync();
        var (hook, _) = await WebhookDeliveryTests.CreateWebhookAsync(Host, org, _receiver.Url, "key.created");
        for (var i = 0; i < 5; i++)
        {
            await Host.CreateKeyAsync(org, new { name = $"k{i}" });
        }

        var whole = await Eventually.ValueAsync(
            () => Host.AdminGetAsync($"admin/webhooks/{hook}/deliveries"),
            list => list["items"]!.AsArray().Count == 5,
            TimeSpan.FromSeconds(20),
            "five key.created deliveries");
        var pages = await PagesAsync(Host.Admin, $"admin/webhooks/{hook}/deliveries?limit=2");
        var first = await Host.AdminGetAsync($"admin/webhooks/{hook}/deliveries?limit=2");
        await Host.CreateKeyAsync(org, new { name = "late" });
        await Eventually.ValueAsync(
            () => Host.AdminGetAsync($"admin/webhooks/{hook}/deliveries"),
            list => list["items"]!.AsArray().Count == 6,
            TimeSpan.FromSeconds(20),
            "the late key's delivery");
        var seen = Ids(first).Concat(await RestAsync(Host.Admin, $"admin/webhooks/{hook}/deliveries?limit=2", first)).ToList();

        Assert.Multiple(() =>
        {
            Assert.That(whole.ContainsKey("nextCursor") && whole["nextCursor"] is null, Is.True, "50 by default: five fit, no next page");
            Assert.That(pages.Select(p => p.Count), Is.EqualTo(new[] { 2, 2, 1 }));
            Assert.That(pages.SelectMany(p => p), Is.EqualTo(Ids(whole)), "the pages together are the list, newest first");
            Assert.That(seen, Is.EqualTo(Ids(whole)), "the newer delivery sorts before the cursor: no repeat, no skip");
        });
    }

    [Test]
    public async Task Deliveries_OfOneMillisecond_PagedByIdDescending_NoRepeatNoSkip()
    {
        var org = await NewOrgAsync();
        var (hook, _) = await WebhookDeliveryTests.CreateWebhookAsync(Host, org, _receiver.Url, "key.revoked");
        // Written to the store directly: deliveries the API makes seldom share a millisecond, and the cursor must
        // still tell them apart (on Redis they share a score in the history).
        var at = DateTimeOffset.FromUnixTimeMilliseconds(DateTimeOffset.UtcNow.ToUnixTimeMilliseconds());
        var ids = Enumerable.Range(0, 5).Select(i => $"msg_tie{i}").ToList();
        var outbox = Host.Services.GetRequiredService<Gateway.Webhooks.IWebhookStore>();
        await outbox.EnqueueAsync(
            ids.Select(id => new Gateway.Webhooks.WebhookDelivery(id, hook, org, "key.revoked", "{}", Gateway.Webhooks.WebhookDelivery.Failed, 1, at, at, at, 500, "test", null)).ToList(),
            CancellationToken.None);

        var pages = await PagesAsync(Host.Admin, $"admin/webhooks/{hook}/deliveries?limit=2");

        Assert.That(pages.SelectMany(p => p), Is.EqualTo(ids.AsEnumerable().Reverse()));
    }

    [TestCase("admin/tokens", "limit=0", "limit")]
    [TestCase("admin/tokens", "limit=1001", "limit")]
    [TestCase("admin/tokens", "limit=2&cursor=nope", "cursor")]
    [TestCase("admin/orgs/{org}/webhooks", "limit=abc", "limit")]
    [TestCase("admin/orgs/{org}/webhooks", "limit=", "limit")]
    [TestCase("admin/orgs/{org}/webhooks", "limit=2&cursor=%25%25", "cursor")]
    [TestCase("admin/webhooks/{hook}/deliveries", "limit=0", "limit")]
    [TestCase("admin/webhooks/{hook}/deliveries", "cursor=bm9wZQ", "cursor")]
    public async Task List_BadLimitOrCursor_400NamingIt(string path, string query, string field)
    {
        var org = await NewOrgAsync();
        var (hook, _) = await WebhookDeliveryTests.CreateWebhookAsync(Host, org, _receiver.Url, "key.revoked");
        using var response = await Host.Admin.GetAsync(path.Replace("{org}", org, StringComparison.Ordinal).Replace("{hook}", hook, StringComparison.Ordinal) + "?" + query);

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.BadRequest));
        var problem = await GatewayHost.ProblemAsync(response);
        Assert.That(problem["errors"]![field], Is.Not.Null, problem.ToJsonString());
    }

    [Test]
    public async Task List_CursorOfAnotherList_400NamingCursor()
    {
        var org = await NewOrgAsync();
        await Host.CreateKeyAsync(org, new { name = "second" });
        var keysCursor = (await Host.AdminGetAsync($"admin/orgs/{org}/keys?limit=1"))["nextCursor"]!.GetValue<string>();
        await Host.CreateTokenAsync($"{org}-a", "viewer");
        await Host.CreateTokenAsync($"{org}-b", "viewer");
        var tokensCursor = (await Host.AdminGetAsync("admin/tokens?limit=1"))["nextCursor"]!.GetValue<string>();
        var (hook, _) = await WebhookDeliveryTests.CreateWebhookAsync(Host, org, _receiver.Url, "key.revoked");

        foreach (var (path, cursor) in new[]
        {
            ("admin/tokens", keysCursor),
            ($"admin/orgs/{org}/webhooks", tokensCursor),
            ($"admin/orgs/{org}/keys", tokensCursor),
            ($"admin/webhooks/{hook}/deliveries", keysCursor),
        })
        {
            using var response = await Host.Admin.GetAsync($"{path}?limit=1&cursor={Uri.EscapeDataString(cursor)}");
            Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.BadRequest), path);
            Assert.That((await GatewayHost.ProblemAsync(response))["errors"]!["cursor"], Is.Not.Null, path);
        }
    }

    private static List<string> Ids(JsonObject page) => page["items"]!.AsArray().Select(i => i.Str("id")).ToList();

    private static async Task<JsonObject> GetAsync(HttpClient client, string path)
    {
        using var response = await client.GetAsync(path);
        var text = await response.Content.ReadAsStringAsync();
        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK), text);
        return JsonNode.Parse(text)!.AsObject();
    }

    /// <summary>Every page of a list from its first, following nextCursor (at most 100 pages: a loop is a failure).</summary>
    private static async Task<List<List<string>>> PagesAsync(HttpClient client, string first)
    {
        var pages = new List<List<string>>();
        string? cursor = null;
        do
        {
            var page = await GetAsync(client, cursor is null ? first : $"{first}&cursor={Uri.EscapeDataString(cursor)}");
            pages.Add(Ids(page));
            cursor = page["nextCursor"]?.GetValue<string>();
            Assert.That(pages, Has.Count.LessThan(100), "nextCursor never ended");
        }
        while (cursor is not null);

        return pages;
    }

    /// <summary>The items of the pages after <paramref name="page"/>.</summary>
    private static async Task<List<string>> RestAsync(HttpClient client, string first, JsonObject page)
    {
        Assert.That(page["nextCursor"], Is.Not.Null, "the first page says there is more");
        var rest = new List<string>();
        var cursor = page["nextCursor"]?.GetValue<string>();
        for (var n = 0; cursor is not null; n++)
        {
            Assert.That(n, Is.LessThan(100), "nextCursor never ended");
            var next = await GetAsync(client, $"{first}&cursor={Uri.EscapeDataString(cursor)}");
            rest.AddRange(Ids(next));
            cursor = next["nextCursor"]?.GetValue<string>();
        }

        return rest;
    }
}
