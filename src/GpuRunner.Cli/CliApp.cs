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
        var parse = root.Parse(args);
        PhaseTrace.Mark("parsed");
        if (parse.Errors.Count > 0)
        {
            // Bad usage is exit 2 with one line per problem (System.CommandLine's default would be 1).
            foreach (var error in parse.Errors)
                console.Error.WriteLine($"gpurunner: usage: {error.Message}");
            console.Error.WriteLine("Try 'gpurunner --help'.");
            return (int)ReturnCode.UsageError;
        }
        var code = await parse.InvokeAsync(new InvocationConfiguration { Output = console.Out, Error = console.Error });
        PhaseTrace.Mark("done");
        foreach (var line in PhaseTrace.Lines()) console.Error.WriteLine(line);
        return code;
    }
}
