using System.CommandLine;

namespace GpuRunner.Cli.Infrastructure;

/// <summary>Options every command accepts.</summary>
public static class CommonOptions
{
    /// <summary>Recursive on the root, so `gpurunner X --json` works for every X.</summary>
    public static readonly Option<bool> Json = new("--json")
    {
        Description = "Print machine-readable JSON on stdout instead of text.",
        Recursive = true,
    };

    /// <summary>detect, verify and exec: show every detail (the driver search trace, exec's whole verify block).</summary>
    public static readonly Option<bool> Verbose = new("--verbose", "-v")
    {
        Description = "Show every detail: the places searched for the NVIDIA driver, and (exec) the whole verify block.",
    };
}
