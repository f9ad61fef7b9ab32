namespace GpuRunner.Cli.Tests;

public class UsageTests
{
    [Fact]
    public async Task UnknownOptionIsUsageErrorWithOneLine()
    {
        var (code, console) = await TestConsole.RunAsync("--no-such-flag");
        Assert.Equal(2, code);
        Assert.Contains("gpurunner: usage:", console.StdErr);
        Assert.Contains("--no-such-flag", console.StdErr);
    }

    [Fact]
    public async Task VersionJsonIsJson()
    {
        var (code, console) = await TestConsole.RunAsync("version", "--json");
        Assert.Equal(0, code);
        using var doc = System.Text.Json.JsonDocument.Parse(console.StdOut);
        Assert.False(string.IsNullOrEmpty(doc.RootElement.GetProperty("version").GetString()));
    }
}
