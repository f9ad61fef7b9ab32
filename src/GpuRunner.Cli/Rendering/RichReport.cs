using GpuRunner.Cli.Infrastructure;
using GpuRunner.Diagnostics.Checks;
using GpuRunner.Diagnostics.Report;
using Spectre.Console;

namespace GpuRunner.Cli.Rendering;

/// <summary>Terminal rendering (Spectre). Kept apart so the plain/JSON paths never load Spectre.</summary>
public static class RichReport
{
    public static void WriteVerify(IConsole console, DeviceReport report, IReadOnlyList<CheckResult> results)
    {
        var ansi = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(console.Out) });
        var table = new Table().Border(TableBorder.Rounded).Expand();
        table.AddColumn("status").AddColumn("check").AddColumn("evidence").AddColumn(new TableColumn("time").RightAligned());
        foreach (var r in results)
        {
            var evidence = Markup.Escape(r.Outcome.Evidence);
            if (r.Outcome.Diagnosis is { } d && r.Status is CheckStatus.Fail or CheckStatus.Warn)
                evidence += $"\n[grey]cause:[/] {Markup.Escape(d.Name + ": " + d.Cause)}\n[grey]fix:[/] {Markup.Escape(d.Fix)}";
            if (r.Id == "driver.library" && r.Status != CheckStatus.Pass)
                evidence += "\n[grey]" + Markup.Escape(string.Join("\n", report.Driver.SearchTrace)) + "[/]";
            table.AddRow(new Markup(Colour(r.Status)), new Markup(Markup.Escape(r.Id)), new Markup(evidence),
                new Markup($"{r.Seconds:0.00} s"));
        }
        ansi.Write(table);
        var colour = report.Verdict switch { "PASS" => "green", "WARN" => "yellow", _ => "red" };
        ansi.MarkupLine($"[bold {colour}]verdict {report.Verdict}[/]  " +
            $"{results.Count(r => r.Status == CheckStatus.Pass)} passed, {results.Count(r => r.Status == CheckStatus.Warn)} warned, " +
            $"{results.Count(r => r.Status == CheckStatus.Fail)} failed, {results.Count(r => r.Status == CheckStatus.Skip)} skipped");
    }

    private static string Colour(CheckStatus s) => s switch
    {
        CheckStatus.Pass => "[green]PASS[/]",
        CheckStatus.Warn => "[yellow]WARN[/]",
        CheckStatus.Fail => "[red bold]FAIL[/]",
        _ => "[grey]SKIP[/]",
    };
}
