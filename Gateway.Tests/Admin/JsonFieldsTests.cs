using System.Text;
using System.Text.Json;
using Gateway.Admin;

namespace Gateway.Tests.Admin;

/// <summary>Admin body parsing below the HTTP layer: hostile member names and duplicates become field errors, not exceptions.</summary>
public sealed class JsonFieldsTests
{
    // Parsed without the duplicate check, which would itself refuse these names (see ReadObjectAsync).
    [TestCase("""{"\ud800":1}""")]
    [TestCase("""{"\udc00":1}""")]
    [TestCase("""{"a\ud800b":1}""")]
    public void RejectUnknown_LoneSurrogateMemberName_AddsBodyError(string json)
    {
        using var document = JsonDocument.Parse(Encoding.UTF8.GetBytes(json));
        var errors = new ValidationErrors();

        JsonFields.RejectUnknown(document.RootElement, errors, "name");

        Assert.That(errors.All.Keys, Is.EqualTo(new[] { "body" }));
    }

    [Test]
    public void RejectUnknown_ControlCharacterMemberName_AddsBodyError()
    {
        using var document = JsonDocument.Parse("""{"a\u0000":1}"""u8.ToArray(), JsonFields.DocumentOptions);
        var errors = new ValidationErrors();

        JsonFields.RejectUnknown(document.RootElement, errors, "name");

        Assert.That(errors.All.Keys, Is.EqualTo(new[] { "body" }));
    }

    [Test]
    public void RejectUnknown_KnownAndUnknownMembers_NamesOnlyTheUnknown()
    {
        using var document = JsonDocument.Parse("""{"name":"x","extra":1}"""u8.ToArray(), JsonFields.DocumentOptions);
        var errors = new ValidationErrors();

        JsonFields.RejectUnknown(document.RootElement, errors, "name");

        Assert.That(errors.All.Keys, Is.EqualTo(new[] { "extra" }));
    }

    [TestCase("""{"name":"a","name":"b"}""")]
    [TestCase("""{"rateLimit":{"window":"00:01:00","window":"00:00:01"}}""")]
    public void Parse_DuplicateMembers_IsRejected(string json) =>
        Assert.Catch<JsonException>(() => JsonDocument.Parse(Encoding.UTF8.GetBytes(json), JsonFields.DocumentOptions).Dispose());
}
