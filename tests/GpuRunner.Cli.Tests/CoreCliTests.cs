namespace GpuRunner.Cli.Tests;

/// <summary>`core serve` and `spaces` refuse bad input with one line and exit 2 before doing anything.</summary>
public class CoreCliTests
{
    [Theory]
    [InlineData("core", "serve", "--db", "mysql:x")]
    [InlineData("core", "serve", "--urls", "ftp://x")]
    [InlineData("core", "serve", "--user", "alice")]
    [InlineData("core", "serve", "--tick", "0")]
    [InlineData("core", "serve", "--sqlite-sync", "sometimes")]
    [InlineData("core", "serve", "--catalogue", "/nonexistent/tiers.json")]
    [InlineData("spaces", "runtime", "alice/app", "--core", "not a url")]
    [InlineData("spaces", "runtime", "alice", "--core", "http://127.0.0.1:9")]
    [InlineData("core", "bench", "--runners", "x")]
    public async Task BadInputIsExit2WithOneLine(params string[] args)
    {
        var (code, console) = await TestConsole.RunAsync(args);
        Assert.Equal(2, code);
        Assert.Matches("^gpurunner: (usage|error): ", console.StdErr);
        Assert.DoesNotContain("   at ", console.StdErr);
    }

    [Fact]
    public async Task UnreachableCoreIsOneLineNamingTheUrl()
    {
        var (code, console) = await TestConsole.RunAsync("spaces", "runtime", "alice/app", "--core", "http://127.0.0.1:9", "--token", "t");
        Assert.Equal(2, code);
        Assert.Contains("cannot reach http://127.0.0.1:9/", console.StdErr);
    }

    [Fact]
    public void BuiltInCatalogueFeedsTheCoreWithTheDocumentsPrices()
    {
        var c = Commands.CoreServeCommand.LoadCatalogue(null);
        Assert.Equal(900_000, c.Get("t4-medium").HourlyMicroUsd);
        Assert.True(c.Get("cpu-basic").IsFree);
        Assert.Equal(7, c.Flavors.Count);
        Assert.Equal("T4", c.Get("t4-small").Accelerator!.Model);
    }
}
