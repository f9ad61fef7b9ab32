using Microsoft.Playwright;

namespace GpuRunner.Pages.Tests;

/// <summary>
/// Debian's chromium, headless, driven by Playwright's bundled node driver. Never a downloaded browser: the path
/// comes from GPURUNNER_TEST_CHROMIUM (set by .ci/run) or /usr/bin/chromium; without it the browser tests skip.
/// </summary>
public sealed class BrowserFixture : IAsyncLifetime
{
    public IPlaywright? Playwright { get; private set; }
    public IBrowser? Browser { get; private set; }
    public string? SkipReason { get; private set; }

    public static string ChromiumPath =>
        Environment.GetEnvironmentVariable("GPURUNNER_TEST_CHROMIUM") is { Length: > 0 } p ? p : "/usr/bin/chromium";

    public async Task InitializeAsync()
    {
        if (!File.Exists(ChromiumPath))
        {
            SkipReason = $"no chromium at {ChromiumPath} (apt-get install chromium, or set GPURUNNER_TEST_CHROMIUM)";
            return;
        }
        // Keep Playwright from looking for (or fetching) its own browsers.
        Environment.SetEnvironmentVariable("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1");
        Playwright = await Microsoft.Playwright.Playwright.CreateAsync();
        Browser = await Playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
        {
            ExecutablePath = ChromiumPath,
            Headless = true,
            Timeout = 60_000,
            Args = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"],
        });
    }

    public async Task DisposeAsync()
    {
        if (Browser is not null) await Browser.CloseAsync();
        Playwright?.Dispose();
    }

    /// <summary>Where screenshots go: $GPURUNNER_SCREENSHOTS, else TestResults/screenshots at the repository root.</summary>
    public static string ScreenshotDir()
    {
        if (Environment.GetEnvironmentVariable("GPURUNNER_SCREENSHOTS") is { Length: > 0 } env) return Directory.CreateDirectory(env).FullName;
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "GpuRunner.sln"))) dir = dir.Parent;
        var root = dir?.FullName ?? Directory.GetCurrentDirectory();
        return Directory.CreateDirectory(Path.Combine(root, "TestResults", "screenshots")).FullName;
    }
}
