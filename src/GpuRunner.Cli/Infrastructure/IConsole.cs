namespace GpuRunner.Cli.Infrastructure;

/// <summary>The writers a command prints to; tests substitute string writers (see TestConsole in the tests).</summary>
public interface IConsole
{
    TextWriter Out { get; }
    TextWriter Error { get; }
    /// <summary>True when stdout is a terminal and NO_COLOR is unset: tables, colours and progress are allowed.</summary>
    bool IsInteractive { get; }
    /// <summary>Terminal width for tables; 0 when unknown or not a terminal.</summary>
    int Width { get; }
}

public sealed class SystemConsole : IConsole
{
    public TextWriter Out { get; } = Console.Out;
    public TextWriter Error { get; } = Console.Error;

    public bool IsInteractive { get; } =
        !Console.IsOutputRedirected
        && string.IsNullOrEmpty(Environment.GetEnvironmentVariable("NO_COLOR"))
        && Environment.GetEnvironmentVariable("TERM") is not "dumb";

    public int Width => IsInteractive ? SafeWidth() : 0;

    private static int SafeWidth()
    {
        try { return Console.WindowWidth; } catch (IOException) { return 120; }
    }
}
