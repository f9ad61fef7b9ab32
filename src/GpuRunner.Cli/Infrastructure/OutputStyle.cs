namespace GpuRunner.Cli.Infrastructure;

/// <summary>How a command renders: JSON for machines, plain greppable lines for logs, tables for a terminal.</summary>
public enum OutputStyle { Plain, Rich, Json }

public static class OutputStyles
{
    public static OutputStyle For(IConsole console, bool json) =>
        json ? OutputStyle.Json : console.IsInteractive ? OutputStyle.Rich : OutputStyle.Plain;
}
