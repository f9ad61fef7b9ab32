using System.CommandLine;
using System.Reflection;
using GpuRunner.Cli.Infrastructure;

namespace GpuRunner.Cli.Commands;

public static class VersionCommand
{
    public static Command Create(IConsole console)
    {
        var command = new Command("version", "Print GpuRunner's version and runtime.");
        command.SetHandler(console, (parse, _) =>
        {
            var version = typeof(VersionCommand).Assembly
                .GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? "0.0.0";
            if (parse.GetValue(CommonOptions.Json))
                console.Out.WriteLine($$"""{"version":"{{version}}","runtime":"{{Environment.Version}}"}""");
            else
                console.Out.WriteLine($"gpurunner {version} (.NET {Environment.Version})");
            return Task.FromResult(ReturnCode.Ok);
        });
        return command;
    }
}
