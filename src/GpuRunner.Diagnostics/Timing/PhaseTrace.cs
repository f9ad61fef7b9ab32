using System.Diagnostics;

namespace GpuRunner.Diagnostics.Timing;

/// <summary>
/// Opt-in start-up profile (GPURUNNER_TRACE_TIMING=1): named marks with the milliseconds since the first mark,
/// printed to stderr by the CLI. It is how the detect budget (≤ half of `nvidia-smi -q`) is split and kept; off,
/// each mark costs one static bool read.
/// </summary>
public static class PhaseTrace
{
    public static readonly bool Enabled = Environment.GetEnvironmentVariable("GPURUNNER_TRACE_TIMING") is "1" or "true";

    private static readonly long Origin = Stopwatch.GetTimestamp();
    private static readonly List<(string Name, long At, int Thread)> Marks = [];

    public static void Mark(string name)
    {
        if (!Enabled) return;
        var at = Stopwatch.GetTimestamp();
        lock (Marks) Marks.Add((name, at, Environment.CurrentManagedThreadId));
    }

    /// <summary>One line per mark: "timing: +12.345 ms [t1] name"; nothing when disabled.</summary>
    public static IEnumerable<string> Lines()
    {
        if (!Enabled) yield break;
        List<(string Name, long At, int Thread)> marks;
        lock (Marks) marks = [.. Marks];
        foreach (var m in marks)
            yield return $"timing: +{Stopwatch.GetElapsedTime(Origin, m.At).TotalMilliseconds,8:0.000} ms [t{m.Thread}] {m.Name}";
    }
}
