namespace GpuRunner.Cli.Tests;

/// <summary>Bad input to verify/detect is exit 2 with one line, decided before any driver is touched.</summary>
public class VerifyUsageTests
{
    [Theory]
    [InlineData("verify", "--only", "no.such.check")]
    [InlineData("verify", "--timeout", "-1")]
    [InlineData("verify", "--timeout", "abc")]
    [InlineData("detect", "--timeout", "0")]
    public async Task BadOptionIsUsageError(params string[] args)
    {
        var (code, console) = await TestConsole.RunAsync(args);
        Assert.Equal(2, code);
        Assert.Single(console.StdErr.Split('\n', StringSplitOptions.RemoveEmptyEntries), l => l.StartsWith("gpurunner:"));
        Assert.Empty(console.StdOut);
    }

    [Fact]
    public async Task UnknownOnlyNamesTheKnownChecks()
    {
        var (_, console) = await TestConsole.RunAsync("verify", "--only", "cuda.kernal");
        Assert.Contains("unknown check cuda.kernal", console.StdErr);
        Assert.Contains("cuda.kernel", console.StdErr);
    }
}
