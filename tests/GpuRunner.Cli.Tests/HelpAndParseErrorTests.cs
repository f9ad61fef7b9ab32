using GpuRunner.Cli.Commands;
using GpuRunner.Diagnostics.Checks;
using GpuRunner.Diagnostics.Frameworks;

namespace GpuRunner.Cli.Tests;

/// <summary>Help is always one command away, and a command line that does not parse gets one plain line and a pointer.</summary>
public class HelpAndParseErrorTests
{
    private static string[] Lines(string text) => text.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);

    [Theory]
    [InlineData(new string[0], "verify")] // the root's help lists the commands
    [InlineData(new[] { "help" }, "verify")]
    [InlineData(new[] { "help", "verify" }, "--expect")]
    [InlineData(new[] { "help", "spaces", "token" }, "--revoke")]
    [InlineData(new[] { "spaces" }, "create")] // a group alone shows what it groups
    public async Task HelpIsShownWithExitZero(string[] args, string expected)
    {
        var (code, console) = await TestConsole.RunAsync(args);
        Assert.Equal(0, code);
        Assert.Contains("Usage:", console.StdOut);
        Assert.Contains(expected, console.StdOut);
        Assert.Empty(console.StdErr);
    }

    [Theory]
    [InlineData(new[] { "bogus" }, "unknown command 'bogus'", "gpurunner")]
    [InlineData(new[] { "help", "bogus" }, "unknown command 'bogus'", "gpurunner")]
    [InlineData(new[] { "verfy" }, "unknown command 'verfy' (did you mean verify?)", "gpurunner")]
    [InlineData(new[] { "verify", "--timeout", "abc" }, "--timeout: 'abc' is not a number", "gpurunner verify")]
    [InlineData(new[] { "detect", "--timeout", "x" }, "--timeout: 'x' is not a number", "gpurunner detect")]
    [InlineData(new[] { "exec", "--heartbeat", "soon", "--", "true" }, "--heartbeat: 'soon' is not a number", "gpurunner exec")]
    [InlineData(new[] { "exec", "--ready-port", "http", "--", "true" }, "--ready-port: 'http' is not a whole number", "gpurunner exec")]
    [InlineData(new[] { "verify", "--verbos" }, "unknown option '--verbos' for 'gpurunner verify' (did you mean --verbose?)", "gpurunner verify")]
    [InlineData(new[] { "verify", "extra" }, "unexpected argument 'extra'", "gpurunner verify")]
    [InlineData(new[] { "spaces", "tokn", "alice/app" }, "unknown command 'tokn' (did you mean token or tokens?)", "gpurunner spaces")]
    public async Task AParseErrorIsOnePlainLineAndAPointerToHelp(string[] args, string error, string command)
    {
        var (code, console) = await TestConsole.RunAsync(args);
        Assert.Equal(2, code);
        Assert.Equal([$"gpurunner: usage: {error}", $"Try '{command} --help'."], Lines(console.StdErr));
        Assert.Empty(console.StdOut);
    }

    [Theory]
    [InlineData("verify", "--timeout", "abc")]
    [InlineData("run", "--model", "m.onnx", "--iterations", "1.5")]
    [InlineData("smoke", "--level", "forever")]
    [InlineData("spaces", "usage", "alice/app", "--period")]
    [InlineData("core", "serve", "--tick", "fast")]
    public async Task NoParseErrorNamesADotNetType(params string[] args)
    {
        var (code, console) = await TestConsole.RunAsync(args);
        Assert.Equal(2, code);
        Assert.DoesNotMatch(@"System\.|`1|GpuRunner\.", console.StdErr);
        var lines = Lines(console.StdErr);
        Assert.All(lines[..^1], l => Assert.StartsWith("gpurunner: usage: ", l));
        Assert.StartsWith("Try 'gpurunner ", lines[^1]);
    }

    [Fact]
    public async Task VerifyHelpListsEveryCheckAndGroup()
    {
        var (code, console) = await TestConsole.RunAsync("verify", "--help");
        Assert.Equal(0, code);
        var help = string.Join(' ', console.StdOut.Split((char[])[' ', '\n', '\r'], StringSplitOptions.RemoveEmptyEntries)); // help wraps lines
        var ids = StandardChecks.Create().Concat(FrameworkChecks.Create(new FrameworkCheckOptions())).Concat(VerifyCommand.ExtraChecks.Select(f => f()))
            .Select(c => c.Id).ToList();
        Assert.True(ids.Count >= 17, string.Join(", ", ids));
        Assert.All(ids, id => Assert.Contains(id, help));
        Assert.Contains($"{CheckSelection.NativeGroup}|{string.Join('|', FrameworkChecks.Groups)}", help);
    }

    [Fact]
    public async Task AnUnknownFlavorSuggestsWhatItStarts()
    {
        var (code, console) = await TestConsole.RunAsync("verify", "--expect", "a10g");
        Assert.Equal(2, code);
        Assert.Contains("unknown flavor 'a10g' (did you mean a10g-small, a10g-large", console.StdErr);
    }
}
