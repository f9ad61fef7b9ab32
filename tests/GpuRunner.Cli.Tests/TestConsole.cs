using GpuRunner.Cli.Infrastructure;

namespace GpuRunner.Cli.Tests;

/// <summary>Captures what a command prints; non-interactive unless asked (like a container log).</summary>
public sealed class TestConsole(bool interactive = false) : IConsole
{
    private readonly StringWriter _out = new(), _err = new();
    public TextWriter Out => _out;
    public TextWriter Error => _err;
    public bool IsInteractive { get; } = interactive;
    public int Width => IsInteractive ? 120 : 0;
    public string StdOut => _out.ToString();
    public string StdErr => _err.ToString();

    /// <summary>Runs the whole CLI as the executable would and returns its exit code.</summary>
    public static async Task<(int Code, TestConsole Console)> RunAsync(params string[] args)
    {
        var console = new TestConsole();
        var code = await CliApp.RunAsync(args, console);
        return (code, console);
    }
}
