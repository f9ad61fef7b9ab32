using System.CommandLine;
using GpuRunner.Cli.Commands;
using GpuRunner.Diagnostics.Checks;
using GpuRunner.Diagnostics.Frameworks;

namespace GpuRunner.Cli.Tests;

/// <summary>The reference pages keep up with the code: every command and flag in cli.md, every check in checks.md.</summary>
public class DocsTests
{
    private static string Doc(string name)
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "GpuRunner.sln"))) return File.ReadAllText(Path.Combine(dir.FullName, "docs", name));
        throw new InvalidOperationException("GpuRunner.sln not found");
    }

    private static IEnumerable<(string Path, Command Command)> Leaves(Command command, string path)
    {
        if (command.Subcommands.Count == 0) yield return (path, command);
        foreach (var sub in command.Subcommands)
            foreach (var leaf in Leaves(sub, $"{path} {sub.Name}")) yield return leaf;
    }

    [Fact]
    public void CliMdHasEveryCommandAndFlag()
    {
        var cli = Doc("cli.md");
        var leaves = Leaves(CliApp.Build(new TestConsole()), "gpurunner").ToList();
        Assert.True(leaves.Count >= 15);
        foreach (var (path, command) in leaves)
        {
            var at = cli.IndexOf($"### {path}\n", StringComparison.Ordinal);
            Assert.True(at >= 0, $"docs/cli.md has no section '### {path}'");
            var next = cli.IndexOf("\n### ", at + 4, StringComparison.Ordinal);
            var section = next < 0 ? cli[at..] : cli[at..next];
            foreach (var option in command.Options.Where(o => o is not System.CommandLine.Help.HelpOption && o is not VersionOption))
                Assert.True(section.Contains($"`{option.Name}", StringComparison.Ordinal) || section.Contains($", {option.Name}", StringComparison.Ordinal),
                    $"docs/cli.md's '{path}' does not list {option.Name}");
        }
    }

    [Fact]
    public void ChecksMdHasEveryCheckAndGroup()
    {
        var checks = Doc("checks.md");
        var ids = StandardChecks.Create().Concat(FrameworkChecks.Create(new FrameworkCheckOptions())).Concat(VerifyCommand.ExtraChecks.Select(f => f()));
        Assert.All(ids, c => Assert.Contains($"| `{c.Id}` |", checks));
        Assert.All(FrameworkChecks.Groups.Prepend(CheckSelection.NativeGroup), g => Assert.Contains($"`{g}`", checks));
    }
}
