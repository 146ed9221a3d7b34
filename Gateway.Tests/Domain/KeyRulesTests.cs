using Gateway.Domain;

namespace Gateway.Tests.Domain;

public sealed class KeyRulesTests
{
    [TestCase("00:00:00", true)]
    [TestCase("00:10:00", true)]
    [TestCase("7.00:00:00", true)]
    [TestCase("7.00:00:00.001", false)]
    [TestCase("-00:00:01", false)]
    public void IsValidGracePeriod_Value_Result(string value, bool valid) =>
        Assert.That(KeyRules.IsValidGracePeriod(TimeSpan.Parse(value, System.Globalization.CultureInfo.InvariantCulture)), Is.EqualTo(valid));

    [TestCase("00:00:01", true)]
    [TestCase("1.00:00:00", true)]
    [TestCase("00:00:00.999", false)]
    [TestCase("1.00:00:00.001", false)]
    [TestCase("00:00:00", false)]
    public void IsValidWindow_Value_Result(string value, bool valid) =>
        Assert.That(KeyRules.IsValidWindow(TimeSpan.Parse(value, System.Globalization.CultureInfo.InvariantCulture)), Is.EqualTo(valid));

    [TestCase("gw", true)]
    [TestCase("acme2", true)]
    [TestCase("abcdefghij", true)]
    [TestCase("abcdefghijk", false)]
    [TestCase("a", false)]
    [TestCase("", false)]
    [TestCase("2gw", false)]
    [TestCase("Gw", false)]
    [TestCase("g_w", false)]
    [TestCase("gé", false)]
    public void IsValidKeyPrefix_Value_SameAsPattern(string prefix, bool valid)
    {
        Assert.That(KeyRules.IsValidKeyPrefix(prefix), Is.EqualTo(valid));
        Assert.That(System.Text.RegularExpressions.Regex.IsMatch(prefix, KeyRules.KeyPrefixPattern), Is.EqualTo(valid), "the documented pattern says the same");
    }

    [TestCase(null, true)]
    [TestCase(1, true)]
    [TestCase(0, false)]
    [TestCase(-1, false)]
    public void IsValidExpiry_SecondsFromNow_Result(int? seconds, bool valid)
    {
        var now = new DateTimeOffset(2030, 1, 1, 0, 0, 0, TimeSpan.Zero);

        Assert.That(KeyRules.IsValidExpiry(seconds is { } s ? now.AddSeconds(s) : null, now), Is.EqualTo(valid));
    }

    [TestCase("*", true)]
    [TestCase("read", true)]
    [TestCase("READ", false)]
    [TestCase("delete", false)]
    public void IsKnownScope_Scope_Result(string scope, bool known) =>
        Assert.That(KeyRules.IsKnownScope(scope, ["read", "write"]), Is.EqualTo(known));

    [Test]
    public void ToStoredPrecision_SubMillisecond_Truncated()
    {
        var value = new DateTimeOffset(2030, 1, 1, 0, 0, 0, TimeSpan.Zero).AddTicks(12_345_678);

        Assert.That(KeyRules.ToStoredPrecision(value), Is.EqualTo(new DateTimeOffset(2030, 1, 1, 0, 0, 1, 234, TimeSpan.Zero)));
    }
}
