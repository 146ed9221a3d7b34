using System.Net;
using System.Text.Json.Nodes;
using Gateway.Tests.Common;

namespace Gateway.Tests.Admin;

/// <summary>
/// Cursor pages of the admin lists (docs/admin-api.md, "Lists and pages"): <c>limit</c> and <c>cursor</c> on the
/// organization, key and customer lists, on both stores.
/// </summary>
[TestFixtureSource(typeof(StoreKinds), nameof(StoreKinds.All))]
public sealed class AdminListPagingTests(StoreKind store) : GatewayFixture(store)
{
    protected override string OrgPrefix => "page";

    [Test]
    public async Task Keys_SevenWithLimitThree_ThreeThreeOneInListOrder_NoRepeats()
    {
        var org = await NewOrgAsync();
        for (var i = 0; i < 6; i++)
        {
            await Host.CreateKeyAsync(org, new { name = $"k{i}" });
        }

        var whole = await Host.AdminGetAsync($"admin/orgs/{org}/keys");
        var pages = await PagesAsync($"admin/orgs/{org}/keys?limit=3");

        Assert.Multiple(() =>
        {
            Assert.That(whole.ContainsKey("nextCursor") && whole["nextCursor"] is null, Is.True, "the whole list says there is no next page");
            Assert.That(Ids(whole), Has.Count.EqualTo(7));
            Assert.That(pages.Select(p => p.Count), Is.EqualTo(new[] { 3, 3, 1 }));
            Assert.That(pages.SelectMany(p => p), Is.EqualTo(Ids(whole)), "the pages together are the list, in its order");
        });
    }

    [Test]
    public async Task Keys_KeyAddedBetweenPages_EveryKeyOnceAtMost_NoneSkipped()
    {
        var org = await NewOrgAsync();
        for (var i = 0; i < 6; i++)
        {
            await Host.CreateKeyAsync(org, new { name = $"k{i}" });
        }

        var before = Ids(await Host.AdminGetAsync($"admin/orgs/{org}/keys"));
        var first = await Host.AdminGetAsync($"admin/orgs/{org}/keys?limit=3");
        var added = Id(await Host.CreateKeyAsync(org, new { name = "late" }));
        var seen = Ids(first).Concat(await RestAsync($"admin/orgs/{org}/keys?limit=3", first)).ToList();

        Assert.Multiple(() =>
        {
            Assert.That(seen, Is.Unique);
            Assert.That(before.Except(seen), Is.Empty, "a key that existed throughout was skipped");
            Assert.That(seen.Count(id => id == added), Is.AtMost(1));
        });
    }

    [Test]
    public async Task Customers_AddedAndDeletedBetweenPages_NoRepeatNoSkip()
    {
        var org = await NewOrgAsync();
        foreach (var id in new[] { "c1", "c2", "c3", "c4", "c5", "c6", "c7" })
        {
            await Host.AdminPostAsync($"admin/orgs/{org}/customers", new { id, name = id }, expected: 201);
        }

        var pages = await PagesAsync($"admin/orgs/{org}/customers?limit=3");
        Assert.That(pages.Select(p => p.Count), Is.EqualTo(new[] { 3, 3, 1 }));
        Assert.That(pages.SelectMany(p => p), Is.EqualTo(new[] { "c1", "c2", "c3", "c4", "c5", "c6", "c7" }));

        var first = await Host.AdminGetAsync($"admin/orgs/{org}/customers?limit=3");
        // An offset would now skip c4: one item before it went away, and the one added before it moves it back.
        using (var deleted = await Host.Admin.DeleteAsync($"admin/orgs/{org}/customers/c2"))
        {
            Assert.That(deleted.StatusCode, Is.EqualTo(HttpStatusCode.NoContent));
        }

        await Host.AdminPostAsync($"admin/orgs/{org}/customers", new { id = "c0", name = "c0" }, expected: 201);
        await Host.AdminPostAsync($"admin/orgs/{org}/customers", new { id = "c35", name = "c35" }, expected: 201);
        var rest = await RestAsync($"admin/orgs/{org}/customers?limit=3", first);

        Assert.That(Ids(first).Concat(rest), Is.EqualTo(new[] { "c1", "c2", "c3", "c35", "c4", "c5", "c6", "c7" }));
    }

    [Test]
    public async Task Orgs_PagedWithLimitTwo_AreTheWholeListInOrder()
    {
        await NewOrgAsync();
        await NewOrgAsync();
        await NewOrgAsync();

        var whole = Ids(await Host.AdminGetAsync("admin/orgs"));
        var pages = await PagesAsync("admin/orgs?limit=2");

        Assert.Multiple(() =>
        {
            Assert.That(pages.SelectMany(p => p), Is.EqualTo(whole));
            Assert.That(pages.Take(pages.Count - 1).Select(p => p.Count), Is.All.EqualTo(2));
            Assert.That(pages[^1].Count, Is.InRange(1, 2));
        });
    }

    [TestCase("admin/orgs", "limit=0", "limit")]
    [TestCase("admin/orgs", "limit=1001", "limit")]
    [TestCase("admin/orgs", "cursor=nope&limit=2", "cursor")]
    [TestCase("admin/orgs/{org}/keys", "limit=abc", "limit")]
    [TestCase("admin/orgs/{org}/keys", "limit=-1", "limit")]
    [TestCase("admin/orgs/{org}/keys", "limit=", "limit")]
    [TestCase("admin/orgs/{org}/keys", "limit=3&cursor=%25%25", "cursor")]
    [TestCase("admin/orgs/{org}/customers", "limit=1001", "limit")]
    [TestCase("admin/orgs/{org}/customers", "limit=3&cursor=bm9wZQ", "cursor")]
    public async Task List_BadLimitOrCursor_400NamingIt(string path, string query, string field)
    {
        var org = await NewOrgAsync();
        using var response = await Host.Admin.GetAsync(path.Replace("{org}", org, StringComparison.Ordinal) + "?" + query);

        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.BadRequest));
        var problem = await GatewayHost.ProblemAsync(response);
        Assert.That(problem["errors"]![field], Is.Not.Null, problem.ToJsonString());
    }

    [Test]
    public async Task List_CursorOfAnotherList_400NamingCursor()
    {
        var org = await NewOrgAsync();
        await Host.CreateKeyAsync(org, new { name = "second" });
        await Host.AdminPostAsync($"admin/orgs/{org}/customers", new { id = "a", name = "a" }, expected: 201);
        await Host.AdminPostAsync($"admin/orgs/{org}/customers", new { id = "b", name = "b" }, expected: 201);
        var keysCursor = (await Host.AdminGetAsync($"admin/orgs/{org}/keys?limit=1"))["nextCursor"]!.GetValue<string>();
        var customersCursor = (await Host.AdminGetAsync($"admin/orgs/{org}/customers?limit=1"))["nextCursor"]!.GetValue<string>();

        foreach (var (path, cursor) in new[] { ($"admin/orgs/{org}/customers", keysCursor), ($"admin/orgs/{org}/keys", customersCursor), ("admin/orgs", keysCursor) })
        {
            using var response = await Host.Admin.GetAsync($"{path}?limit=1&cursor={Uri.EscapeDataString(cursor)}");
            Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.BadRequest), path);
            Assert.That((await GatewayHost.ProblemAsync(response))["errors"]!["cursor"], Is.Not.Null, path);
        }
    }

    private static List<string> Ids(JsonObject page) => page["items"]!.AsArray().Select(i => i.Str("id")).ToList();

    /// <summary>Every page of a list from its first, following nextCursor (at most 100 pages: a loop is a failure).</summary>
    private async Task<List<List<string>>> PagesAsync(string first)
    {
        var pages = new List<List<string>>();
        string? cursor = null;
        do
        {
            var page = await Host.AdminGetAsync(cursor is null ? first : $"{first}&cursor={Uri.EscapeDataString(cursor)}");
            pages.Add(Ids(page));
            cursor = page["nextCursor"]?.GetValue<string>();
            Assert.That(pages, Has.Count.LessThan(100), "nextCursor never ended");
        }
        while (cursor is not null);

        return pages;
    }

    /// <summary>The items of the pages after <paramref name="page"/>.</summary>
    private async Task<List<string>> RestAsync(string first, JsonObject page)
    {
        Assert.That(page["nextCursor"], Is.Not.Null, "the first page says there is more");
        var rest = new List<string>();
        var cursor = page["nextCursor"]?.GetValue<string>();
        for (var n = 0; cursor is not null; n++)
        {
            Assert.That(n, Is.LessThan(100), "nextCursor never ended");
            var next = await Host.AdminGetAsync($"{first}&cursor={Uri.EscapeDataString(cursor)}");
            rest.AddRange(Ids(next));
            cursor = next["nextCursor"]?.GetValue<string>();
        }

        return rest;
    }
}
