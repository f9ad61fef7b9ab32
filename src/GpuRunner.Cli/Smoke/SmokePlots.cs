using GpuRunner.Cli.Infrastructure;
using GpuRunner.Diagnostics.Smoke;
using ScottPlot;

namespace GpuRunner.Cli.Smoke;

/// <summary>PNG charts of a smoke report (ScottPlot on SkiaSharp; its Linux native library has no dependencies
/// beyond glibc, so it renders on Debian 12 and in GPU containers without X). Slim containers have no fonts at
/// all (the lent H200 drew charts without a single label), so the labels use an embedded DejaVu Sans.</summary>
internal static class SmokePlots
{
    public const int Width = 1000, Height = 600;
    public const string FontName = "DejaVu Sans";

    /// <summary>ScottPlot loads fonts from files only: the resource is written once to a temp file and made default.</summary>
    private static readonly Lazy<string> EmbeddedFont = new(() =>
    {
        using var resource = typeof(SmokePlots).Assembly.GetManifestResourceStream("GpuRunner.Cli.Smoke.DejaVuSans.ttf")
            ?? throw new InvalidOperationException("embedded font missing from the build");
        // One shared copy (not one per run); written beside and renamed, so a concurrent run never reads half a file.
        var path = Path.Combine(Path.GetTempPath(), "gpurunner-DejaVuSans-2.37.ttf");
        if (!File.Exists(path) || new FileInfo(path).Length != resource.Length)
        {
            var partial = $"{path}.{Environment.ProcessId}";
            using (var file = File.Create(partial))
                resource.CopyTo(file);
            File.Move(partial, path, overwrite: true);
        }
        Fonts.AddFontFile(FontName, path);
        Fonts.Default = FontName;
        return path;
    });

    public static void EnsureWritable(string dir)
    {
        try
        {
            Directory.CreateDirectory(dir);
            var probe = Path.Combine(dir, $".gpurunner-write-test-{Environment.ProcessId}");
            File.WriteAllText(probe, "");
            File.Delete(probe);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException)
        {
            throw new CommandException($"--plot {dir}: cannot write there: {e.Message}");
        }
    }

    /// <summary>Writes what the report has data for; returns the files written.</summary>
    public static IReadOnlyList<string> Write(SmokeReport report, string dir)
    {
        _ = EmbeddedFont.Value; // registers the font once per process
        var written = new List<string>();
        foreach (var sweep in report.Checks.Where(c => c.Id == "bandwidth.sweep" && c.Samples.Count > 0))
            written.Add(Bandwidth(sweep, Path.Combine(dir, $"bandwidth-vs-size-gpu{sweep.Gpu}.png")));
        foreach (var run in report.Checks.Where(c => c.Id == "stability" && c.Samples.Count > 0))
            written.Add(Telemetry(run, Path.Combine(dir, $"stability-gpu{run.Gpu}.png")));
        return written;
    }

    /// <summary>GB/s against transfer size on a log2 axis, one line per direction, as nvbandwidth draws it.</summary>
    public static string Bandwidth(SmokeCheckResult sweep, string path)
    {
        var plt = new Plot();
        var sizes = sweep.Samples.Where(s => s.X is not null).Select(s => s.X!.Value).Distinct().Order().ToArray();
        foreach (var (series, label) in new[] { ("h2d-pinned", "host to device (pinned)"), ("d2h-pinned", "device to host (pinned)"), ("d2d", "device to device (read+write)") })
        {
            var points = sweep.Samples.Where(s => s.Series == series && s.X is not null).OrderBy(s => s.X).ToArray();
            if (points.Length == 0) continue;
            var line = plt.Add.Scatter(points.Select(p => Math.Log2(p.X!.Value)).ToArray(), points.Select(p => p.Value).ToArray());
            line.LegendText = label;
            if (series == "d2d") line.Axes.YAxis = plt.Axes.Right;
        }
        plt.Axes.Bottom.TickGenerator = new ScottPlot.TickGenerators.NumericManual(
            sizes.Select(Math.Log2).ToArray(), sizes.Select(s => SmokeFormat.Bytes(s)).ToArray());
        plt.Title($"GPU{sweep.Gpu}: bandwidth against transfer size");
        plt.XLabel("transfer size");
        plt.YLabel("host <-> device GB/s");
        plt.Axes.Right.Label.Text = "device to device GB/s";
        plt.ShowLegend(Alignment.UpperLeft);
        plt.SavePng(path, Width, Height);
        return path;
    }

    /// <summary>SM and memory clocks (left axis) with power and temperature (right axis) over the stability run.</summary>
    public static string Telemetry(SmokeCheckResult run, string path)
    {
        var plt = new Plot();
        foreach (var (series, label, right) in new[]
                 {
                     ("smClockMHz", "SM clock (MHz)", false), ("memClockMHz", "memory clock (MHz)", false),
                     ("powerW", "power (W)", true), ("temperatureC", "temperature (C)", true),
                 })
        {
            var points = run.Samples.Where(s => s.Series == series && s.TimeS is not null).ToArray();
            if (points.Length == 0) continue;
            var line = plt.Add.Scatter(points.Select(p => p.TimeS!.Value).ToArray(), points.Select(p => p.Value).ToArray());
            line.LegendText = label;
            if (right) line.Axes.YAxis = plt.Axes.Right;
        }
        plt.Title($"GPU{run.Gpu}: sustained GEMM");
        plt.XLabel("seconds");
        plt.YLabel("MHz");
        plt.Axes.Right.Label.Text = "W / C";
        plt.ShowLegend(Alignment.LowerLeft);
        plt.SavePng(path, Width, Height);
        return path;
    }
}
