namespace GpuRunner.Cli.Tests;

/// <summary>In a terminal, detect and verify draw tables; whatever driver this machine has, the shape holds.</summary>
public class RichOutputTests
{
    [Fact]
    public async Task VerifyDrawsATableAndAVerdict()
    {
        var console = new TestConsole(interactive: true);
        var code = await CliApp.RunAsync(["verify", "--only", "driver.library"], console);
        Assert.Contains("│ status", console.StdOut);
        Assert.Contains("driver.library", console.StdOut);
        Assert.Matches(@"verdict (PASS|FAIL)", console.StdOut);
        Assert.Equal(console.StdOut.Contains("verdict FAIL") ? 1 : 0, code);
    }

    [Fact]
    public async Task DetectInATerminalNamesTheTier()
    {
        var console = new TestConsole(interactive: true);
        var code = await CliApp.RunAsync(["detect"], console);
        Assert.Contains("tier", console.StdOut);
        Assert.Contains("host", console.StdOut);
        Assert.True(code is 0 or 1, console.StdErr);
        Assert.DoesNotContain("internal error", console.StdErr);
    }
}
