using System.Globalization;
using GpuRunner.Cli.Infrastructure;
using GpuRunner.Diagnostics.Checks;
using GpuRunner.Diagnostics.Report;
using Spectre.Console;

namespace GpuRunner.Cli.Rendering;

/// <summary>Terminal rendering (Spectre). Kept apart so the plain/JSON paths never load Spectre.</summary>
public static class RichReport
{
    private static IAnsiConsole Ansi(IConsole console)
    {
        var ansi = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(console.Out) });
        if (console.Width > 0) ansi.Profile.Width = console.Width;
        return ansi;
    }

    /// <summary>Runs the checks under a live table that gains a row as each check finishes.</summary>
    public static void RunVerify(IConsole console, DeviceReport report, Action<Action<CheckResult>> runAll, bool verbose = false)
    {
        var ansi = Ansi(console);
        if (report.Host is { } h)
            ansi.MarkupLine($"[grey]host[/] {h.Vcpu} vCPU ({Markup.Escape(h.VcpuSource)}) · {Gib(h.MemoryBytes)} RAM ({Markup.Escape(h.MemorySource)})");
        var table = new Table().Border(TableBorder.Rounded);
        table.AddColumn("status").AddColumn("check").AddColumn("evidence").AddColumn(new TableColumn("time").RightAligned());
        var results = new List<CheckResult>();
        ansi.Live(table).Start(live => runAll(r =>
        {
            results.Add(r);
            table.AddRow(new Markup(Colour(r.Status)), new Markup(Markup.Escape(r.Id)), new Markup(Evidence(r, report, verbose)),
                new Markup(r.Seconds.ToString("0.00 s", CultureInfo.InvariantCulture)));
            live.Refresh();
        }));
        var colour = report.Verdict switch { "PASS" => "green", "WARN" => "yellow", _ => "red" };
        ansi.MarkupLine($"[bold {colour}]verdict {report.Verdict}[/]  " +
            $"{results.Count(r => r.Status == CheckStatus.Pass)} passed, {results.Count(r => r.Status == CheckStatus.Warn)} warned, " +
            $"{results.Count(r => r.Status == CheckStatus.Fail)} failed, {results.Count(r => r.Status == CheckStatus.Skip)} skipped");
    }

    /// <summary>detect in a terminal: one table per GPU, then driver, host and tier.</summary>
    public static void WriteInventory(IConsole console, DeviceReport report, CheckOutcome? failure, bool verbose = false)
    {
        var ansi = Ansi(console);
        var d = report.Driver;
        if (!d.Loaded && !verbose)
            ansi.MarkupLine($"[bold]no NVIDIA driver[/]: a CPU-only host [grey](libnvidia-ml.so.1 does not load; {d.SearchTrace.Count} places searched, --verbose lists them)[/]");
        else if (!d.Loaded)
        {
            ansi.MarkupLine("[red bold]no NVIDIA driver found[/] (libnvidia-ml.so.1 does not load): CUDA is unavailable on this machine. Looked in:");
            foreach (var line in d.SearchTrace) ansi.MarkupLine($"  [grey]{Markup.Escape(line)}[/]");
        }
        else if (failure is not null)
        {
            ansi.MarkupLine($"[red bold]NVML fails[/] ({Markup.Escape(d.NvmlLibrary ?? "")}): {Markup.Escape(failure.Evidence)}");
            if (failure.Diagnosis is { } diag)
                ansi.MarkupLine($"  [grey]cause:[/] {Markup.Escape(diag.Name + ": " + diag.Cause)}\n  [grey]fix:[/] {Markup.Escape(diag.Fix)}");
        }
        else
            ansi.MarkupLine($"[green]NVIDIA {Markup.Escape(d.DriverVersion ?? "?")}[/], CUDA {Markup.Escape(d.CudaDriverVersion ?? "?")} [grey]({Markup.Escape(d.NvmlLibrary ?? "")})[/]");

        foreach (var g in report.Gpus)
        {
            var table = new Table().Border(TableBorder.Rounded).Title($"GPU {g.Index}: {Markup.Escape(g.Name ?? "n/a")}");
            table.AddColumn("field").AddColumn("value");
            void Row(string field, object? value) => table.AddRow(field, Markup.Escape(Convert.ToString(value, CultureInfo.InvariantCulture) ?? "n/a"));
            Row("uuid", g.Uuid);
            Row("pci bus id", g.PciBusId);
            Row("memory", g.MemoryTotalMiB is null ? null : $"{g.MemoryTotalMiB} MiB total, {g.MemoryUsedMiB} used, {g.MemoryReservedMiB} reserved, {g.MemoryFreeMiB} free");
            Row("compute capability", g.ComputeCapability);
            Row("MIG / persistence", $"{g.MigMode ?? "n/a"} / {g.PersistenceMode ?? "n/a"}");
            Row("temperature", g.TemperatureC is null ? null : $"{g.TemperatureC} C");
            Row("power", $"{N(g.PowerDrawW)} W of {N(g.PowerLimitW)} W");
            Row("clocks (MHz)", $"SM {N(g.Clocks.SmMHz)}/{N(g.Clocks.SmMaxMHz)}, memory {N(g.Clocks.MemMHz)}/{N(g.Clocks.MemMaxMHz)}");
            Row("ECC", $"{g.Ecc.Mode ?? "n/a"}, uncorrected {N(g.Ecc.VolatileUncorrected)} volatile / {N(g.Ecc.AggregateUncorrected)} aggregate");
            Row("retired pages / row remap", $"{N(g.RetiredPages.SingleBit)}+{N(g.RetiredPages.DoubleBit)} pending {N(g.RetiredPages.Pending)} / {N(g.RowRemap.Corrected)}+{N(g.RowRemap.Uncorrected)} pending {N(g.RowRemap.Pending)}");
            Row("PCIe", $"gen {N(g.Pcie.Gen)} x{N(g.Pcie.Width)} (max gen {N(g.Pcie.GenMax)} x{N(g.Pcie.WidthMax)})");
            Row("throttle", g.ThrottleReasons is null ? null : g.ThrottleReasons.Count == 0 ? "none" : string.Join(", ", g.ThrottleReasons));
            foreach (var u in g.Unsupported) Row($"n/a: {u.Field}", u.Code);
            ansi.Write(table);
        }
        if (report.Host is { } h)
            ansi.MarkupLine($"[grey]host[/] {h.Vcpu} vCPU ({Markup.Escape(h.VcpuSource)}) · {Gib(h.MemoryBytes)} RAM ({Markup.Escape(h.MemorySource)})" +
                string.Concat(h.Disks.Select(x => $" · {Markup.Escape(x.Path)} {Gib(x.FreeBytes)} free of {Gib(x.TotalBytes)}")));
        ansi.MarkupLine($"[grey]tier[/] {Markup.Escape(report.Tier?.Summary ?? "unknown: no hardware catalogue available")}");
    }

    private static string Evidence(CheckResult r, DeviceReport report, bool verbose)
    {
        var evidence = Markup.Escape(r.Outcome.Evidence);
        if (r.Outcome.Diagnosis is { } d && r.Status is CheckStatus.Fail or CheckStatus.Warn)
            evidence += $"\n[grey]cause:[/] {Markup.Escape(d.Name + ": " + d.Cause)}\n[grey]fix:[/] {Markup.Escape(d.Fix)}";
        if (PlainReport.ShowsTrace(r, verbose))
            evidence += "\n[grey]" + Markup.Escape(string.Join("\n", report.Driver.SearchTrace)) + "[/]";
        return evidence;
    }

    private static string N<T>(T? v) where T : struct => v is null ? "n/a" : Convert.ToString(v, CultureInfo.InvariantCulture)!.ToLowerInvariant();
    private static string Gib(long? bytes) => bytes is null ? "n/a" : $"{bytes.Value / (double)(1L << 30):0.0} GiB";

    private static string Colour(CheckStatus s) => s switch
    {
        CheckStatus.Pass => "[green]PASS[/]",
        CheckStatus.Warn => "[yellow]WARN[/]",
        CheckStatus.Fail => "[red bold]FAIL[/]",
        _ => "[grey]SKIP[/]",
    };
}
