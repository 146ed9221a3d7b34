using Gateway.Http;
using Microsoft.Extensions.Primitives;

namespace Gateway.Tests.Http;

/// <summary>The one Bearer parser, shared by the proxy's key check and the admin token filter.</summary>
public sealed class BearerTokenTests
{
    private static readonly object?[][] Cases =
    [
        [null, "Missing", null],
        ["", "Missing", null],
        ["Bearer abc", "Ok", "abc"],
        ["bearer abc", "Ok", "abc"],
        ["BEARER abc", "Ok", "abc"],
        ["Bearer", "Malformed", null],
        ["Bearer ", "Malformed", null],
        ["Bearer  abc", "Malformed", null],
        ["Bearer\tabc", "Malformed", null],
        ["Bearer abc ", "Malformed", null],
        ["Bearer a bc", "Malformed", null],
        ["Bearer abcé", "Malformed", null],
        ["Basic abc", "Malformed", null],
        ["Bearerabc", "Malformed", null],
        ["abc", "Malformed", null],
    ];

    [TestCaseSource(nameof(Cases))]
    public void TryParse_OneHeader_ResultAndToken(string? header, string expected, string? token)
    {
        var headers = header is null ? StringValues.Empty : new StringValues(header);

        var result = BearerToken.TryParse(headers, out var parsed);

        Assert.That(result.ToString(), Is.EqualTo(expected));
        Assert.That(result == BearerParseResult.Ok ? parsed.ToString() : null, Is.EqualTo(token));
    }

    [Test]
    public void TryParse_TwoHeaders_Malformed()
    {
        var result = BearerToken.TryParse(new StringValues(["Bearer abc", "Bearer abc"]), out _);

        Assert.That(result, Is.EqualTo(BearerParseResult.Malformed));
    }
}
