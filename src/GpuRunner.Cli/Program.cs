using System.CommandLine;
using GpuRunner.Cli;
using GpuRunner.Cli.Infrastructure;

// Composition root: only wiring. Each command lives in Commands/<Name>Command.cs.
return await CliApp.RunAsync(args, new SystemConsole());
