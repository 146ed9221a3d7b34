using System.Globalization;
using System.Text;
using Gateway.Stores;
using Microsoft.AspNetCore.WebUtilities;
using Microsoft.OpenApi;

namespace Gateway.Admin;

/// <summary>
/// <c>limit</c> and <c>cursor</c> of the admin lists that answer everything unless asked for pages (organizations,
/// keys, customers, operator tokens, webhooks) and of a webhook's deliveries (50 unless asked for another count). A cursor is the last item's sort key, not an offset, so an item created or deleted between two
/// pages makes neither repeat nor skip one that existed throughout. It is opaque to callers (base64url) and names its
/// list, so a cursor of another list is refused instead of starting somewhere arbitrary.
/// </summary>
internal static class AdminListPages
{
    public const int MaxLimit = 1000;

    public static AdminQueryParameter[] Parameters(string items) =>
    [
        new("limit", $"At most this many {items} per page, 1 to {MaxLimit}; without it every one is answered (nextCursor null).", JsonSchemaType.Integer),
        new("cursor", "The nextCursor of the previous page (null on the last page)."),
    ];

    /// <summary>
    /// Reads <c>limit</c> (null: <paramref name="defaultLimit"/>, itself null for no limit) and <c>cursor</c> of a list
    /// named <paramref name="list"/> whose sort key has <paramref name="parts"/> parts (null: from the start); false with
    /// the problem naming the bad parameter.
    /// </summary>
    public static bool TryRead(IQueryCollection query, string list, int parts, out ListRequest request, out AdminProblem? problem, int? defaultLimit = null)
    {
        request = default;
        problem = null;
        var limit = defaultLimit;
        if (query.TryGetValue("limit", out var limitText))
        {
            if (!int.TryParse(limitText, NumberStyles.None, CultureInfo.InvariantCulture, out var n) || n < 1 || n > MaxLimit)
            {
                problem = AdminProblems.Invalid("limit", $"Must be an integer between 1 and {MaxLimit}.");
                return false;
            }

            limit = n;
        }

        string[]? after = null;
        if (query.TryGetValue("cursor", out var cursorText) && (after = Decode(cursorText.ToString(), list, parts)) is null)
        {
            problem = InvalidCursor();
            return false;
        }

        request = new ListRequest(limit, after);
        return true;
    }

    /// <summary>
    /// <see cref="TryRead"/> for a list ordered by creation time and id, whose cursor is a <see cref="TimeIdPosition"/>
    /// (null: from the start).
    /// </summary>
    public static bool TryReadTimed(IQueryCollection query, string list, out ListRequest request, out TimeIdPosition? after, out AdminProblem? problem, int? defaultLimit = null)
    {
        after = null;
        if (!TryRead(query, list, 2, out request, out problem, defaultLimit))
        {
            return false;
        }

        if (request.After is [var at, var id])
        {
            if (!long.TryParse(at, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var millis))
            {
                problem = InvalidCursor();
                return false;
            }

            after = new TimeIdPosition(millis, id);
        }

        return true;
    }

    /// <summary>The cursor parts of an item at <paramref name="at"/> with <paramref name="id"/>, as <see cref="TryReadTimed"/> reads them.</summary>
    public static string[] TimedKey(DateTimeOffset at, string id) => [at.ToUnixTimeMilliseconds().ToString(CultureInfo.InvariantCulture), id];

    public static AdminProblem InvalidCursor() => AdminProblems.Invalid("cursor", "Not a cursor returned by this list.");

    /// <summary>
    /// The page of <paramref name="read"/>, which holds up to one item more than the limit (that one says whether a next
    /// page exists), and the cursor after its last item.
    /// </summary>
    public static ListDto<TDto> Page<TItem, TDto>(IReadOnlyList<TItem> read, ListRequest request, string list, Func<TItem, string[]> sortKey, Func<TItem, TDto> view)
    {
        if (request.Limit is not { } limit || read.Count <= limit)
        {
            return new ListDto<TDto>(read.Select(view).ToList());
        }

        var items = read.Take(limit).ToList();
        return new ListDto<TDto>(items.Select(view).ToList(), Encode(list, sortKey(items[^1])));
    }

    /// <summary>The count to read for a page: one more than the limit, so the store's answer tells whether there is more.</summary>
    public static int? ReadCount(ListRequest request) => request.Limit + 1;

    private static string Encode(string list, string[] sortKey) =>
        WebEncoders.Base64UrlEncode(Encoding.UTF8.GetBytes(list + "\n" + string.Join('\n', sortKey)));

    private static string[]? Decode(string cursor, string list, int parts)
    {
        string text;
        try
        {
            text = Encoding.UTF8.GetString(WebEncoders.Base64UrlDecode(cursor));
        }
        catch (FormatException)
        {
            return null;
        }

        // Ids never hold a line break (every id rule excludes it), so the parts split back exactly.
        var split = text.Split('\n');
        return split.Length == parts + 1 && split[0] == list && split.Skip(1).All(p => p.Length > 0) ? split[1..] : null;
    }
}

/// <summary>A list call's <c>limit</c> (null: everything) and the sort key its <c>cursor</c> named (null: from the start).</summary>
internal readonly record struct ListRequest(int? Limit, string[]? After);
