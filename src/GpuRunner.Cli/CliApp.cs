using System.CommandLine;
using GpuRunner.Cli.Commands;
using GpuRunner.Cli.Infrastructure;
using GpuRunner.Diagnostics.Timing;

namespace GpuRunner.Cli;

public static class CliApp
{
    public static RootCommand Build(IConsole console)
    {
        var root = new RootCommand("GpuRunner: verify the GPU a container really gets, and run workloads on it.");
        root.Options.Add(CommonOptions.Json);
        // One line per command; keep sorted.
        root.Subcommands.Add(CoreServeCommand.Create(console));
        root.Subcommands.Add(DetectCommand.Create(console));
        root.Subcommands.Add(ExecCommand.Create(console));
        root.Subcommands.Add(ReportCommand.Create(console));
        root.Subcommands.Add(RequirementsCommand.Create(console));
        root.Subcommands.Add(RunCommand.Create(console));
        root.Subcommands.Add(SmokeCommand.Create(console));
        root.Subcommands.Add(SpacesCommand.Create(console));
        root.Subcommands.Add(VerifyCommand.Create(console));
        root.Subcommands.Add(VersionCommand.Create(console));
        return root;
    }

    public static async Task<int> RunAsync(string[] args, IConsole console)
    {
        PhaseTrace.Mark("main");
        var root = Build(console);
        // `help bogus` is an unknown command, not the root's help (the parser lets --help win over stray tokens).
        if (args is ["help", _, ..] && root.Parse(args[1..]) is { UnmatchedTokens.Count: > 0 } wrong)
            return UsageErrors.Report(wrong, console.Error);
        args = UsageErrors.RewriteHelp(args);
        var parse = root.Parse(args);
        PhaseTrace.Mark("parsed");
        var invocation = new InvocationConfiguration { Output = console.Out, Error = console.Error };
        if (UsageErrors.IsBareGroup(parse))
            return await root.Parse([.. args, "--help"]).InvokeAsync(invocation);
        // Bad usage is exit 2 with one plain line per mistake (System.CommandLine's default would be 1).
        if (parse.Errors.Count > 0) return UsageErrors.Report(parse, console.Error);
        var code = await parse.InvokeAsync(invocation);
        PhaseTrace.Mark("done");
        foreach (var line in PhaseTrace.Lines()) console.Error.WriteLine(line);
        return code;
    }
}
