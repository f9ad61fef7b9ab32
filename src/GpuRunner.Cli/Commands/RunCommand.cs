using System.CommandLine;
using System.Text.Json;
using GpuRunner.Cli.Infrastructure;
using GpuRunner.Diagnostics.Frameworks;
using GpuRunner.Diagnostics.Models;
using Spectre.Console;

namespace GpuRunner.Cli.Commands;

/// <summary>
/// `gpurunner run --model PATH`: load a model onto the device with one engine, warm up, time N iterations and compare
/// the output with the CPU reference. Exit 0 when it matches within tolerance, 1 when it does not or the engine
/// cannot run there (with the named cause), 2 for bad options or an unreadable model.
/// </summary>
public static class RunCommand
{
    private static readonly string[] Engines = ["ort", "torch", "native"];
    private static readonly string[] Devices = ["cuda", "cpu"];

    public static Command Create(IConsole console)
    {
        var model = new Option<string>("--model") { Description = "Model: models/NAME.onnx or NAME.json (manifest beside it; see models/README.md).", Required = true };
        var engine = new Option<string>("--engine") { Description = "ort (ONNX Runtime), torch (TorchSharp) or native (GpuRunner's own CUDA kernels).", DefaultValueFactory = _ => "ort" };
        engine.AcceptOnlyFromAmong(Engines);
        var device = new Option<string?>("--device") { Description = "cuda or cpu (default: cuda when this host shows an NVIDIA GPU, else cpu)." };
        device.AcceptOnlyFromAmong(Devices);
        var iterations = new Option<int>("--iterations") { Description = "Timed iterations (after the warm-up).", DefaultValueFactory = _ => 100 };
        var warmup = new Option<int>("--warmup") { Description = "Untimed warm-up iterations (when > 0, the JIT build then keeps warming up until the .NET JIT has settled, at most 5 s).", DefaultValueFactory = _ => 10 };
        var batch = new Option<int>("--batch") { Description = "Batch size (the shipped test input is repeated to fill it).", DefaultValueFactory = _ => 8 };
        var python = new Option<string?>("--python") { Description = "Python whose torch/lib TorchSharp may use (default: python3 on PATH)." };
        var libtorch = new Option<string?>("--libtorch") { Description = "libtorch lib folder for TorchSharp (or GPURUNNER_LIBTORCH)." };

        var command = new Command("run", "Run a model on the device, time it and compare with the CPU reference.")
        {
            model, engine, device, iterations, warmup, batch, python, libtorch,
        };
        command.SetHandler(console, (parse, ct) =>
        {
            var settings = new RunSettings
            {
                Engine = parse.GetValue(engine)!,
                Device = parse.GetValue(device) ?? (GpuPresence.Probe() ? "cuda" : "cpu"),
                Iterations = parse.GetValue(iterations),
                Warmup = parse.GetValue(warmup),
                Batch = parse.GetValue(batch),
                // A warm-up asked for is a steady-state measurement: let the JIT build finish tiering up first.
                SettleJit = parse.GetValue(warmup) > 0,
                LibTorch = new LibTorchOptions { LibTorchDir = parse.GetValue(libtorch), Python = parse.GetValue(python) },
            };
            return Task.Run(() => Execute(console, parse.GetValue(model)!, settings, OutputStyles.For(console, parse.GetValue(CommonOptions.Json)), ct), ct);
        });
        return command;
    }

    internal static ReturnCode Execute(IConsole console, string modelPath, RunSettings settings, OutputStyle style, CancellationToken ct)
    {
        if (settings.Iterations is < 1 or > 1_000_000) throw new CommandException($"--iterations must be 1..1000000 (got {settings.Iterations})");
        if (settings.Warmup is < 0 or > 100_000) throw new CommandException($"--warmup must be 0..100000 (got {settings.Warmup})");
        if (settings.Batch is < 1 or > 65_536) throw new CommandException($"--batch must be 1..65536 (got {settings.Batch})");
        if (settings.Engine == "native" && settings.Device != "cuda")
            throw new CommandException("--engine native runs on the GPU only: use --device cuda (or another engine for cpu)");
        if (settings.LibTorch.LibTorchDir is { } lt && !Directory.Exists(lt))
            throw new CommandException($"--libtorch {lt}: no such folder");
        if (settings.LibTorch.Python is { } py && !File.Exists(py))
            throw new CommandException($"--python {py}: no such file");

        ModelManifest manifest;
        try { manifest = ModelManifest.Load(modelPath); }
        catch (ModelException e) { throw new CommandException(e.Message); }

        RunReport report;
        try
        {
            if (style == OutputStyle.Rich)
            {
                var ansi = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(console.Out) });
                report = null!;
                ansi.Progress().AutoClear(true).Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new RemainingTimeColumn())
                    .Start(ctx =>
                    {
                        var task = ctx.AddTask($"{manifest.Name} · {settings.Engine} on {settings.Device}", maxValue: settings.Warmup + settings.Iterations);
                        report = ModelRunner.Run(manifest, settings, (done, _) => task.Value = done, ct);
                    });
            }
            else
            {
                if (style == OutputStyle.Plain)
                    console.Out.WriteLine($"run: {manifest.Name} with {settings.Engine} on {settings.Device}: batch {settings.Batch}, {settings.Warmup} warm-up + {settings.Iterations} timed iterations");
                report = ModelRunner.Run(manifest, settings, null, ct);
            }
        }
        catch (EngineUnavailableException e)
        {
            if (style == OutputStyle.Json)
                console.Out.WriteLine(JsonSerializer.Serialize(new RunReport
                {
                    Model = manifest.Name, ModelPath = manifest.PathOf(manifest.Onnx), Engine = settings.Engine, Device = settings.Device,
                    Detail = $"{e.Message} | {e.Diagnosis.Name}: {e.Diagnosis.Cause} | fix: {e.Diagnosis.Fix}", Batch = settings.Batch,
                    Comparison = new ComparisonReport("not run", double.NaN, double.NaN, 0, 0, manifest.Tolerance.Abs, manifest.Tolerance.Rel, false),
                }, RunJsonContext.Default.RunReport));
            console.Error.WriteLine($"gpurunner: run: FAIL: {e.Message}");
            console.Error.WriteLine($"  cause: {e.Diagnosis.Name}: {e.Diagnosis.Cause}");
            console.Error.WriteLine($"  fix:   {e.Diagnosis.Fix}");
            return ReturnCode.CheckFailed;
        }
        catch (ModelException e)
        {
            throw new CommandException(e.Message);
        }

        Print(console, report, style);
        return report.Verdict == "PASS" ? ReturnCode.Ok : ReturnCode.CheckFailed;
    }

    private static void Print(IConsole console, RunReport r, OutputStyle style)
    {
        if (style == OutputStyle.Json)
        {
            console.Out.WriteLine(JsonSerializer.Serialize(r, RunJsonContext.Default.RunReport));
            return;
        }
        var c = r.Comparison;
        string[][] rows =
        [
            ["model", $"{r.Model} ({r.ModelPath})"],
            ["engine", $"{r.Engine} on {r.Device}: {r.Detail} (load {r.LoadSeconds:0.00} s)"],
            ["run", $"batch {r.Batch}, {r.Warmup} warm-up{(r.JitWarmup > 0 ? $" (+{r.JitWarmup} until the JIT settled, {r.JitWarmupSeconds:0.0} s)" : "")} + {r.Iterations} timed iterations"],
            ["latency", $"p50 {Ms(r.Latency.P50Ms)}  p95 {Ms(r.Latency.P95Ms)}  p99 {Ms(r.Latency.P99Ms)}  (min {Ms(r.Latency.MinMs)}, max {Ms(r.Latency.MaxMs)})"],
            ["throughput", $"{r.ThroughputSamplesPerSecond:N0} samples/s"],
            ["device memory", r.DeviceMemoryBytes is { } b ? $"{b / 1048576.0:0.0} MiB ({r.DeviceMemorySource})" : r.Device == "cpu" ? "n/a (cpu)" : "unknown"],
            ["vs reference", $"max abs diff {c.MaxAbsDiff:0.###e+0}, max rel diff {c.MaxRelDiff:0.###e+0}; tolerance abs {c.ToleranceAbs:g} + rel {c.ToleranceRel:g}: " +
                             (c.Within ? "within" : $"{c.Mismatches}/{c.Elements} elements beyond")],
            ["verdict", r.Verdict],
        ];
        if (style == OutputStyle.Rich)
        {
            var ansi = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(console.Out) });
            var table = new Table().HideHeaders().Border(TableBorder.Rounded).AddColumn("").AddColumn("");
            foreach (var row in rows)
                table.AddRow(new Markup($"[bold]{Markup.Escape(row[0])}[/]"),
                    row[0] == "verdict" ? new Markup(r.Verdict == "PASS" ? "[green]PASS[/]" : "[red]FAIL[/]") : new Text(row[1]));
            ansi.Write(table);
            return;
        }
        foreach (var row in rows) console.Out.WriteLine($"{row[0] + ":",-15}{row[1]}");
    }

    private static string Ms(double ms) => ms < 1 ? $"{ms * 1000:0.#} µs" : $"{ms:0.###} ms";
}
