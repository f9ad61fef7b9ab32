using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using GpuRunner.Cli.Infrastructure;
using GpuRunner.Cli.Rendering;
using GpuRunner.Diagnostics.Checks;
using GpuRunner.Diagnostics.Inventory;
using GpuRunner.Diagnostics.Report;

namespace GpuRunner.Cli.Commands;

/// <summary>`gpurunner verify`: the ordered checks, each under its own deadline, and a verdict. Exit 1 on any FAIL.</summary>
public static class VerifyCommand
{
    public static readonly Option<string?> Expect = new("--expect")
    {
        Description = "The hardware flavor this container should have (e.g. a10g-small); a mismatch fails with exit 1.",
    };

    public static readonly Option<double?> Timeout = new("--timeout")
    {
        Description = "Deadline in seconds for EACH check (default: per check, 5-30 s). A check past it fails; the command still finishes.",
    };

    public static readonly Option<string[]> Only = new("--only")
    {
        Description = "Run only these checks (ids, comma-separated or repeated) and what they need.",
        AllowMultipleArgumentsPerToken = false,
    };

    /// <summary>Extra checks added by other parts (frameworks, models, smoke) run after the native ones.</summary>
    public static readonly List<Func<ICheck>> ExtraChecks = [];

    public static Command Create(IConsole console)
    {
        var command = new Command("verify", "Verify this machine's GPU end to end: driver, NVML, CUDA, a context, a PTX kernel, and the hardware tier.");
        command.Options.Add(Expect);
        command.Options.Add(Timeout);
        command.Options.Add(Only);
        command.SetHandler(console, (parse, ct) => Task.FromResult(Run(console, parse.GetValue(CommonOptions.Json),
            parse.GetValue(Expect), parse.GetValue(Timeout), parse.GetValue(Only) ?? [], ct)));
        return command;
    }

    public static ReturnCode Run(IConsole console, bool json, string? expect, double? timeoutSeconds, string[] only, CancellationToken ct)
    {
        TimeSpan? deadline = timeoutSeconds is { } t ? ParseTimeout(t) : null;
        var services = Services.Create();
        if (expect is not null && services.Tiers.Validate(expect) is { } problem)
            throw new CommandException($"--expect: {problem}");

        var all = StandardChecks.Create();
        all.AddRange(ExtraChecks.Select(f => f()));
        var ids = only.SelectMany(o => o.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)).ToList();
        List<ICheck> toRun;
        HashSet<string> shown;
        try { (toRun, shown) = CheckSelection.Select(all, ids); }
        catch (ArgumentException e) { throw new CommandException($"--only: {e.Message}"); }

        var report = new DeviceReport { Host = services.Host() };
        using var context = new CheckContext(report, expect, services: services);
        var style = OutputStyles.For(console, json);
        var plain = style == OutputStyle.Plain ? new PlainReport(console.Out) : null;
        plain?.WriteHost(report.Host);

        var results = new List<CheckResult>();
        foreach (var check in toRun)
        {
            ct.ThrowIfCancellationRequested();
            var result = new CheckRunner(deadline).RunOne(check, context);
            context.Record(result);
            if (!shown.Contains(result.Id)) continue;
            results.Add(result);
            plain?.WriteCheck(result, report); // streamed: a log shows progress even if a later check is slow
        }
        report.Checks = results.Select(r => r.ToReport()).ToList();
        report.Verdict = StandardChecks.Verdict(results);

        switch (style)
        {
            case OutputStyle.Json: console.Out.WriteLine(JsonSerializer.Serialize(report, ReportJsonContext.Default.DeviceReport)); break;
            case OutputStyle.Plain: plain!.WriteVerdict(results, report.Verdict); break;
            default: RichReport.WriteVerify(console, report, results); break;
        }
        return report.Verdict == "FAIL" ? ReturnCode.CheckFailed : ReturnCode.Ok;
    }

    internal static TimeSpan ParseTimeout(double seconds) =>
        seconds is > 0 and <= 3600 && double.IsFinite(seconds)
            ? TimeSpan.FromSeconds(seconds)
            : throw new CommandException($"--timeout must be a number of seconds between 0 and 3600, got {seconds.ToString(CultureInfo.InvariantCulture)}");
}
