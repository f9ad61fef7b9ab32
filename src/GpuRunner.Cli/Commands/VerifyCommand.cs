using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using GpuRunner.Cli.Infrastructure;
using GpuRunner.Cli.Rendering;
using GpuRunner.Diagnostics.Checks;
using GpuRunner.Diagnostics.Frameworks;
using GpuRunner.Diagnostics.Inventory;
using GpuRunner.Diagnostics.Report;

namespace GpuRunner.Cli.Commands;

/// <summary>`gpurunner verify`: the ordered checks, each under its own deadline, and a verdict. Exit 1 on any FAIL.</summary>
public static class VerifyCommand
{
    public static readonly Option<string?> Expect = new("--expect")
    {
        Description = "The hardware flavor this container should have (e.g. a10g-small); a mismatch fails with exit 1.",
        HelpName = "FLAVOR",
    };

    public static readonly Option<double?> Timeout = new("--timeout")
    {
        Description = "Deadline in seconds for EACH check (default: per check, 5-30 s). A check past it fails; the command still finishes.",
        HelpName = "SECONDS",
    };

    public static readonly Option<string[]> Only = new("--only")
    {
        // Listed here rather than built from the check objects, so that parsing never loads the frameworks;
        // VerifyUsageTests holds this list to the real one.
        Description = "Run only these checks (comma-separated or repeated) and what they need. Groups: native|python|onnx|torch|model. " +
            "Checks: driver.library, nvml.init, cuda.init, device.visible, gpu.health, cuda.memory, cuda.kernel, tier.match, " +
            "python.torch, python.jax, python.tensorflow, onnx.runtime, onnx.cpu, onnx.cuda, torch.load, torch.cuda, model.device.",
        HelpName = "ID",
        AllowMultipleArgumentsPerToken = false,
    };

    public static readonly Option<string?> Python = new("--python")
    {
        Description = "Python whose PyTorch/JAX/TensorFlow snippets are run (default: python3, then python, on PATH).",
    };

    public static readonly Option<string?> LibTorch = new("--libtorch")
    {
        Description = "libtorch lib folder for TorchSharp (default: $GPURUNNER_LIBTORCH, then the Python torch's torch/lib).",
    };

    /// <summary>Extra checks added by other parts (frameworks, models, smoke) run after the native ones.</summary>
    public static readonly List<Func<ICheck>> ExtraChecks = [];

    public static Command Create(IConsole console)
    {
        var command = new Command("verify", "Verify this machine's GPU end to end: driver, NVML, CUDA, a context, a PTX kernel, and the hardware tier.");
        command.Options.Add(Expect);
        command.Options.Add(Timeout);
        command.Options.Add(Only);
        command.Options.Add(CatalogueOptions.Catalogue);
        command.Options.Add(Python);
        command.Options.Add(LibTorch);
        command.Options.Add(CommonOptions.Verbose);
        command.SetHandler(console, (parse, ct) =>
        {
            using var catalogue = CatalogueOptions.Apply(parse);
            return Task.FromResult(Run(console, parse.GetValue(CommonOptions.Json),
                parse.GetValue(Expect), parse.GetValue(Timeout), parse.GetValue(Only) ?? [], ct,
                new FrameworkCheckOptions { Python = parse.GetValue(Python), LibTorch = parse.GetValue(LibTorch) },
                parse.GetValue(CommonOptions.Verbose)));
        });
        return command;
    }

    public static ReturnCode Run(IConsole console, bool json, string? expect, double? timeoutSeconds, string[] only, CancellationToken ct,
        FrameworkCheckOptions? frameworks = null, bool verbose = false)
    {
        frameworks ??= new FrameworkCheckOptions();
        if (frameworks.Python is { } py && !File.Exists(py)) throw new CommandException($"--python {py}: no such file");
        if (frameworks.LibTorch is { } lt && !Directory.Exists(lt)) throw new CommandException($"--libtorch {lt}: no such folder");
        TimeSpan? deadline = timeoutSeconds is { } t ? ParseTimeout(t) : null;
        var services = Services.Create();
        if (expect is not null && services.Tiers.Validate(expect) is { } problem)
            throw new CommandException($"--expect: {problem}");

        var all = StandardChecks.Create();
        all.AddRange(FrameworkChecks.Create(frameworks)); // python.*, onnx.*, torch.*, model.device
        all.AddRange(ExtraChecks.Select(f => f()));
        var ids = only.SelectMany(o => o.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)).ToList();
        List<ICheck> toRun;
        HashSet<string> shown;
        try { (toRun, shown) = CheckSelection.Select(all, ids); }
        catch (ArgumentException e) { throw new CommandException($"--only: {e.Message}"); }

        // The Python snippets (seconds each, mostly `import torch`) start now, side by side with the native checks.
        foreach (var check in toRun.OfType<IPrefetchableCheck>()) check.Prefetch(ct);
        var report = new DeviceReport { Host = services.Host() };
        using var context = new CheckContext(report, expect, services: services);
        var style = OutputStyles.For(console, json);
        var results = new List<CheckResult>();
        void RunAll(Action<CheckResult> onResult)
        {
            foreach (var check in toRun)
            {
                ct.ThrowIfCancellationRequested();
                var result = new CheckRunner(deadline).RunOne(check, context, ct);
                context.Record(result);
                if (!shown.Contains(result.Id)) continue;
                results.Add(result);
                onResult(result);
            }
            report.Checks = results.Select(r => r.ToReport()).ToList();
            report.Verdict = StandardChecks.Verdict(results);
        }

        switch (style)
        {
            case OutputStyle.Json:
                RunAll(_ => { });
                console.Out.WriteLine(JsonSerializer.Serialize(report, ReportJsonContext.Default.DeviceReport));
                break;
            case OutputStyle.Plain:
                var plain = new PlainReport(console.Out, verbose);
                plain.WriteHost(report.Host);
                RunAll(r => plain.WriteCheck(r, report)); // streamed: a log shows progress even if a later check is slow
                plain.WriteVerdict(results, report.Verdict!);
                break;
            default:
                RichReport.RunVerify(console, report, RunAll, verbose);
                break;
        }
        return report.Verdict == "FAIL" ? ReturnCode.CheckFailed : ReturnCode.Ok;
    }

    internal static TimeSpan ParseTimeout(double seconds) =>
        seconds is > 0 and <= 3600 && double.IsFinite(seconds)
            ? TimeSpan.FromSeconds(seconds)
            : throw new CommandException($"--timeout must be a number of seconds between 0 and 3600, got {seconds.ToString(CultureInfo.InvariantCulture)}");
}
