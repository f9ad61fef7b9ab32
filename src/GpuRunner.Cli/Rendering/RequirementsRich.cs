using GpuRunner.Cli.Infrastructure;
using GpuRunner.Diagnostics.Requirements;
using Spectre.Console;

namespace GpuRunner.Cli.Rendering;

/// <summary>`requirements check` in a terminal: one table row per CUDA-related requirement, then the verdict.</summary>
public static class RequirementsRich
{
    public static void Write(IConsole console, PreflightReport report, string verdictLine)
    {
        var ansi = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(console.Out) });
        ansi.MarkupLine($"[bold]{Markup.Escape(report.File)}[/] against a CUDA {Markup.Escape(report.DriverCuda)} driver [grey]({Markup.Escape(report.DriverSource)})[/]");
        var table = new Table().Border(TableBorder.Rounded).Expand();
        table.AddColumn("status").AddColumn("requirement").AddColumn("build / needs").AddColumn("why, and what to use instead");
        foreach (var i in report.Items)
        {
            var build = Markup.Escape(i.Build ?? "-") + (i.RequiredDriver is { } d ? $"\n[grey]{Markup.Escape(d)}[/]" : "");
            var why = Markup.Escape(i.Message);
            if (i.InsteadUse.Count > 0)
                why += "\n[bold]instead:[/] " + Markup.Escape(string.Join("\n", i.InsteadUse));
            table.AddRow(new Markup(Colour(i.Status)), new Markup($"{Markup.Escape(i.Requirement)}\n[grey]{Markup.Escape($"{i.File}:{i.Line}")}[/]"),
                new Markup(build), new Markup(why));
        }
        if (report.Items.Count > 0) ansi.Write(table);
        foreach (var note in report.Notes) ansi.MarkupLine($"[grey]note {Markup.Escape(note)}[/]");
        var colour = report.Verdict switch { "PASS" => "green", "WARN" => "yellow", _ => "red" };
        ansi.MarkupLine($"[bold {colour}]{Markup.Escape(verdictLine)}[/]");
    }

    private static string Colour(PreflightStatus s) => s switch
    {
        PreflightStatus.Ok => "[green]OK[/]",
        PreflightStatus.Warn => "[yellow]WARN[/]",
        PreflightStatus.Fail => "[red bold]FAIL[/]",
        _ => "[grey]SKIP[/]",
    };
}
