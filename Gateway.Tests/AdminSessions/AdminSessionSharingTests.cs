using System.Net;
using Gateway.AdminSessions;
using Gateway.Tests.Common;
using Microsoft.Playwright;
using StackExchange.Redis;

namespace Gateway.Tests.AdminSessions;

/// <summary>
/// Console sessions across instances and restarts: the Data Protection keys that encrypt the session cookie live in the
/// store (a Redis list; a 0700 directory of 0600 files next to the SQLite file), encrypted, so a cookie issued by one
/// instance is read by another and after a restart, and the keys at rest hold no plaintext key material.
/// </summary>
[NonParallelizable]
public sealed class AdminSessionSharingTests
{
    private TestIdentityProvider _idp = null!;
    private IPlaywright _playwright = null!;
    private IBrowser _browser = null!;

    [OneTimeSetUp]
    public async Task StartAsync()
    {
        _idp = await TestIdentityProvider.StartAsync();
        _playwright = await Playwright.CreateAsync();
        _browser = await HeadlessChromium.LaunchAsync(_playwright);
    }

    [OneTimeTearDown]
    public async Task StopAsync()
    {
        if (_browser is not null)
        {
            await _browser.DisposeAsync();
        }

        _playwright?.Dispose();
        if (_idp is not null)
        {
            await _idp.DisposeAsync();
        }
    }

    [Test]
    public async Task SignOut_OnOneInstance_CopyOfTheCookieRefusedOnTheOther()
    {
        var prefix = $"t{Guid.NewGuid():N}:";
        await using var first = await GatewayHost.StartAsync(AdminOidcSignInTests.Settings(_idp), store: StoreKind.Redis, redisPrefix: prefix);
        await using var second = await GatewayHost.StartAsync(AdminOidcSignInTests.Settings(_idp), store: StoreKind.Redis, redisPrefix: prefix);

        var page = await AdminOidcSignInTests.SignInAsync(_browser, first);
        var copy = await CookieHeaderAsync(page, first);
        Assert.That(await MeStatusAsync(second, copy), Is.EqualTo(HttpStatusCode.OK));

        var csrf = (await AdminOidcSignInTests.FetchAsync(page, "GET", "/admin/me")).Body!["csrf"]!.GetValue<string>();
        Assert.That((await AdminOidcSignInTests.FetchAsync(page, "POST", "/admin/auth/signout", csrf: csrf)).Status, Is.EqualTo(204));

        Assert.That(await MeStatusAsync(second, copy), Is.EqualTo(HttpStatusCode.Unauthorized), "the other instance refuses the copy");
        Assert.That(await MeStatusAsync(first, copy), Is.EqualTo(HttpStatusCode.Unauthorized));
        using var redis = await ConnectionMultiplexer.ConnectAsync(RedisServer.Shared.ConnectionString);
        var ended = redis.GetServers()[0].Keys(pattern: prefix + "{store}:ended-session:*").ToList();
        Assert.That(ended, Has.Count.EqualTo(1), "one key for the ended session");
        var ttl = await redis.GetDatabase().KeyTimeToLiveAsync(ended[0]);
        Assert.That(ttl, Is.Not.Null.And.LessThanOrEqualTo(TimeSpan.FromHours(8)), "kept no longer than the session could have lasted");
        await page.Context.CloseAsync();
    }

    [Test]
    public async Task Session_IssuedByOneInstance_WorksOnAnotherSharingRedis_KeysEncrypted()
    {
        var prefix = $"t{Guid.NewGuid():N}:";
        await using var first = await GatewayHost.StartAsync(AdminOidcSignInTests.Settings(_idp), store: StoreKind.Redis, redisPrefix: prefix);
        await using var second = await GatewayHost.StartAsync(AdminOidcSignInTests.Settings(_idp), store: StoreKind.Redis, redisPrefix: prefix);
        await first.CreateOrgAsync("acme");

        var page = await AdminOidcSignInTests.SignInAsync(_browser, first);
        var cookies = await CookieHeaderAsync(page, first);
        Assert.That(await MeStatusAsync(second, cookies), Is.EqualTo(HttpStatusCode.OK), "the second instance reads the first one's session");

        using var redis = await ConnectionMultiplexer.ConnectAsync(RedisServer.Shared.ConnectionString);
        var ring = await redis.GetDatabase().ListRangeAsync(prefix + SessionKeyProtection.RedisKeySuffix);
        Assert.That(ring, Is.Not.Empty);
        foreach (var key in ring)
        {
            AssertProtected(key.ToString());
        }

        await page.Context.CloseAsync();
    }

    [Test]
    [System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
    public async Task Session_SurvivesRestartOnSqlite_KeyFilesPrivateAndEncrypted()
    {
        // The store outside the hosts' own directories, which each host deletes when it stops.
        var directory = DataDirectory();
        string cookies;
        await using (var before = await GatewayHost.StartAsync(SqliteSettings(directory)))
        {
            var page = await AdminOidcSignInTests.SignInAsync(_browser, before);
            cookies = await CookieHeaderAsync(page, before);
            Assert.That(await MeStatusAsync(before, cookies), Is.EqualTo(HttpStatusCode.OK));
            await page.Context.CloseAsync();
        }

        var keys = Path.Combine(directory, SessionKeyProtection.DirectoryName);
        Assert.That(File.GetUnixFileMode(keys), Is.EqualTo(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute));
        var files = Directory.GetFiles(keys);
        Assert.That(files, Is.Not.Empty);
        foreach (var file in files)
        {
            Assert.That(File.GetUnixFileMode(file), Is.EqualTo(UnixFileMode.UserRead | UnixFileMode.UserWrite), file);
            AssertProtected(await File.ReadAllTextAsync(file));
        }

        await using var after = await GatewayHost.StartAsync(SqliteSettings(directory));
        Assert.That(await MeStatusAsync(after, cookies), Is.EqualTo(HttpStatusCode.OK), "the restarted gateway reads the session");
    }

    [Test]
    public async Task Session_OtherBootstrapToken_CannotReadTheKeys()
    {
        var directory = DataDirectory();
        string cookies;
        await using (var before = await GatewayHost.StartAsync(SqliteSettings(directory)))
        {
            var page = await AdminOidcSignInTests.SignInAsync(_browser, before);
            cookies = await CookieHeaderAsync(page, before);
            await page.Context.CloseAsync();
        }

        var settings = SqliteSettings(directory);
        settings["Gateway:Admin:Token"] = "b7F2kQ9xL4mZ8pR3tW6yN1cV5hJ0dS2g";
        await using var after = await GatewayHost.StartAsync(settings);
        Assert.That(await MeStatusAsync(after, cookies), Is.EqualTo(HttpStatusCode.Unauthorized), "keys encrypted under another token are unreadable");
    }

    private static string DataDirectory()
    {
        var directory = Path.Combine(Path.GetTempPath(), "gw-tests", "dp-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(directory);
        return directory;
    }

    private Dictionary<string, string?> SqliteSettings(string directory)
    {
        var settings = AdminOidcSignInTests.Settings(_idp);
        settings["Gateway:Store:Path"] = Path.Combine(directory, "gateway.db");
        return settings;
    }

    /// <summary>A Data Protection key element holds its key as base64 in masterKey/value unless an encryptor replaced it.</summary>
    private static void AssertProtected(string xml)
    {
        Assert.That(xml, Does.Contain("gatewayEncryptedKey"), "encrypted by the gateway's encryptor");
        Assert.That(xml, Does.Not.Contain("<masterKey").And.Not.Contain("<value>"), "no plaintext key material");
        Assert.That(xml, Does.Not.Contain("This key is not encrypted"));
    }

    internal static async Task<string> CookieHeaderAsync(IPage page, GatewayHost gateway)
    {
        var cookies = await page.Context.CookiesAsync([gateway.AdminUrl.ToString()]);
        Assert.That(cookies.Select(c => c.Name), Does.Contain(AdminSessionSchemes.CookieName));
        var session = cookies.Single(c => c.Name == AdminSessionSchemes.CookieName);
        Assert.That(session.HttpOnly, Is.True);
        Assert.That(session.SameSite, Is.EqualTo(SameSiteAttribute.Strict));
        Assert.That(session.Path, Is.EqualTo("/"));
        return string.Join("; ", cookies.Select(c => $"{c.Name}={c.Value}"));
    }

    internal static async Task<HttpStatusCode> MeStatusAsync(GatewayHost gateway, string cookies)
    {
        using var client = new HttpClient(new SocketsHttpHandler { UseCookies = false }) { BaseAddress = gateway.AdminUrl };
        using var request = new HttpRequestMessage(HttpMethod.Get, "admin/me");
        request.Headers.Add("Cookie", cookies);
        using var response = await client.SendAsync(request);
        return response.StatusCode;
    }
}
