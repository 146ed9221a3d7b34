using Microsoft.Playwright;

namespace Gateway.Tests.Common;

/// <summary>Debian's Chromium (or <c>CHROMIUM_PATH</c>), headless, as every browser test launches it.</summary>
public static class HeadlessChromium
{
    public static string Path => Environment.GetEnvironmentVariable("CHROMIUM_PATH") ?? "/usr/bin/chromium";

    public static Task<IBrowser> LaunchAsync(IPlaywright playwright) =>
        playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
        {
            ExecutablePath = Path,
            Headless = true,
            Args = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
        });
}
