namespace GpuRunner.Cli.Exec;

/// <summary>
/// The runner's own lines: "[gpurunner] message" on stderr, so a log reader can tell them from the app's. Shares a
/// gate with the child's pass-through so that a runner line never lands inside one of the app's lines.
/// </summary>
public sealed class RunnerLog(TextWriter error, object? gate = null)
{
    public const string Prefix = "[gpurunner] ";
    public object Gate { get; } = gate ?? new object();

    public void Line(string message)
    {
        lock (Gate)
        {
            foreach (var line in message.Split('\n'))
                error.Write(Prefix + line.TrimEnd('\r') + "\n");
            error.Flush();
        }
    }
}
