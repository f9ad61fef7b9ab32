using GpuRunner.Cli.Infrastructure;
using GpuRunner.Diagnostics.Smoke;
using Spectre.Console;

namespace GpuRunner.Cli.Smoke;

/// <summary>Renders a smoke report: plain greppable lines for logs, a Spectre table for a terminal.</summary>
internal static class SmokeOutput
{
    /// <summary>Reports synchronously on the runner's thread (Progress&lt;T&gt; would post and reorder).</summary>
    private sealed class Sync(Action<SmokeProgress> report) : IProgress<SmokeProgress>
    {
        public void Report(SmokeProgress value) => report(value);
    }

    public static SmokeReport RunWithProgress(IConsole console, Func<IProgress<SmokeProgress>, SmokeReport> run)
    {
        var ansi = Ansi(console);
        SmokeReport? report = null;
        ansi.Progress().AutoClear(true).HideCompleted(true)
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn())
            .Start(ctx =>
            {
                var task = ctx.AddTask("starting", maxValue: 1);
                report = run(new Sync(p =>
                {
                    task.Description = Markup.Escape(p.Step);
                    task.MaxValue = Math.Max(1, p.Total);
                    task.Value = p.Done;
                }));
            });
        return report!;
    }

    public static void WritePlainHeader(TextWriter w, ISmokeBackend backend, SmokeLevel level)
    {
        w.WriteLine($"smoke: level {level.ToString().ToLowerInvariant()}, {backend.Devices.Count} GPU(s)");
        foreach (var d in backend.Devices)
            w.WriteLine($"smoke: GPU{d.Info.Index} {d.Info.Name} {d.Info.TotalBytes >> 20} MiB (CUDA total), {d.Info.FreeBytes >> 20} MiB free, " +
                        $"cc {d.Info.ComputeCapability}, {d.Info.MultiprocessorCount} SMs, L2 {d.Info.L2Bytes >> 20} MiB, {d.Info.PciBusId}");
        foreach (var t in backend.Trace) w.WriteLine($"smoke: {t}");
    }

    /// <summary>One line per check, written as it completes:
    /// "PASS bandwidth.d2d gpu0: 4276 GB/s, 89.1 % of 4800 GB/s datasheet ... [0.52 s]".</summary>
    public static void WritePlainCheck(TextWriter w, SmokeCheckResult c)
    {
        var where = c.Gpu is { } gpu ? c.Peer is { } peer ? $" gpu{gpu}->gpu{peer}" : $" gpu{gpu}" : "";
        w.WriteLine($"{SmokeVerdict.Word(c.Status),-4} {c.Id}{where}: {c.Evidence} [{c.Seconds:0.00} s]");
        if (c.Diagnosis is { } d && c.Status is SmokeStatus.Fail or SmokeStatus.Warn)
            w.WriteLine($"     cause: {d.Cause}; fix: {d.Fix}");
        foreach (var e in c.Errors.Take(8)) w.WriteLine($"     memory error: {e}");
        if (c.Errors.Count > 8) w.WriteLine($"     ... {c.Errors.Count - 8} more logged (--json has them all)");
        w.Flush();
    }

    public static void WritePlainFooter(TextWriter w, SmokeReport r, IReadOnlyList<string> plots)
    {
        foreach (var g in r.Gpus)
            w.WriteLine($"smoke: GPU{g.Index} spec: {(g.Spec is { } s ? $"{s.Model} ({s.Source})" : "none in the catalogue")}");
        foreach (var t in r.Topology) w.WriteLine($"topology: {t}");
        foreach (var p in plots) w.WriteLine($"plot: {p}");
        w.WriteLine(r.VerdictLine);
    }

    public static void WriteRich(IConsole console, SmokeReport r, IReadOnlyList<string> trace, IReadOnlyList<string> plots)
    {
        var ansi = Ansi(console);
        foreach (var g in r.Gpus)
            ansi.MarkupLine($"[bold]GPU{g.Index}[/] {Markup.Escape(g.Name)} {g.MemoryTotalBytes >> 20} MiB, cc {g.ComputeCapability}, " +
                            $"spec: {Markup.Escape(g.Spec?.Model ?? "none in the catalogue")}");
        var table = new Table().Border(TableBorder.Rounded).Expand();
        table.AddColumns("", "check", "gpu", "result", "% spec", "evidence", "s");
        foreach (var c in r.Checks)
        {
            var color = c.Status switch { SmokeStatus.Pass => "green", SmokeStatus.Warn => "yellow", SmokeStatus.Fail => "red", _ => "grey" };
            var evidence = c.Evidence + (c.Diagnosis is { } d && c.Status is SmokeStatus.Fail or SmokeStatus.Warn ? $"\nfix: {d.Fix}" : "");
            table.AddRow(
                $"[{color}]{SmokeVerdict.Word(c.Status)}[/]",
                Markup.Escape(c.Title),
                c.Gpu is { } gpu ? c.Peer is { } peer ? $"{gpu}->{peer}" : gpu.ToString() : "",
                c.Value is { } v ? $"{SmokeFormat.Number(v)} {Markup.Escape(c.Unit ?? "")}" : "",
                c.PercentOfSpec is { } p ? $"{p:0.#}" : "",
                Markup.Escape(evidence),
                $"{c.Seconds:0.0}");
        }
        ansi.Write(table);
        foreach (var c in r.Checks.Where(c => c.Errors.Count > 0))
        foreach (var e in c.Errors.Take(8))
            ansi.MarkupLine($"[red]memory error[/] gpu{c.Gpu}: {Markup.Escape(e.ToString())}");
        foreach (var t in r.Topology) ansi.MarkupLine($"[bold]topology[/] {Markup.Escape(t)}");
        foreach (var t in trace) ansi.MarkupLine($"[grey]{Markup.Escape(t)}[/]");
        foreach (var p in plots) ansi.MarkupLine($"plot: {Markup.Escape(p)}");
        var verdictColor = r.Verdict switch { SmokeStatus.Pass => "green", SmokeStatus.Warn => "yellow", SmokeStatus.Fail => "red", _ => "grey" };
        ansi.MarkupLine($"[bold {verdictColor}]{Markup.Escape(r.VerdictLine)}[/]");
    }

    private static IAnsiConsole Ansi(IConsole console) => AnsiConsole.Create(new AnsiConsoleSettings
    {
        Out = new AnsiConsoleOutput(console.Out),
        Interactive = console.IsInteractive ? InteractionSupport.Yes : InteractionSupport.No,
        Ansi = console.IsInteractive ? AnsiSupport.Yes : AnsiSupport.No,
    });
}
