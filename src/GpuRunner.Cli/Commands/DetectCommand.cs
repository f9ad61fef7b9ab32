using System.CommandLine;
using System.Text.Json;
using GpuRunner.Cli.Infrastructure;
using GpuRunner.Cli.Rendering;
using GpuRunner.Diagnostics.Checks;
using GpuRunner.Diagnostics.Inventory;
using GpuRunner.Diagnostics.Report;
using GpuRunner.Diagnostics.Timing;
using GpuRunner.Native.Loading;

namespace GpuRunner.Cli.Commands;

/// <summary>
/// `gpurunner detect`: the inventory (NVML + host) and the matching tier. No cuInit, no context: fast.
/// Exit 0 when the inventory was taken (a host without a GPU is an answer too), 1 when a driver is present but
/// NVML fails or hangs.
/// </summary>
public static class DetectCommand
{
    public static readonly Option<double> Timeout = new("--timeout")
    {
        Description = "Seconds to wait for the driver before giving up (a wedged GPU must not hang the tool).",
        DefaultValueFactory = _ => 10,
        HelpName = "SECONDS",
    };

    public static Command Create(IConsole console)
    {
        var command = new Command("detect", "Inventory the GPUs (NVML) and the host, and name the matching hardware tier. Fast: no CUDA initialisation.");
        command.Options.Add(Timeout);
        command.Options.Add(CatalogueOptions.Catalogue);
        command.Options.Add(CommonOptions.Verbose);
        command.SetHandler(console, (parse, _) =>
        {
            using var catalogue = CatalogueOptions.Apply(parse);
            return Task.FromResult(Run(console, parse.GetValue(CommonOptions.Json), parse.GetValue(Timeout), parse.GetValue(CommonOptions.Verbose)));
        });
        return command;
    }

    public static ReturnCode Run(IConsole console, bool json, double timeoutSeconds, bool verbose = false)
    {
        var deadline = VerifyCommand.ParseTimeout(timeoutSeconds);
        var watch = System.Diagnostics.Stopwatch.StartNew();
        var report = new DeviceReport();
        var loader = NativeLoader.Default;
        GpuInventory.FillLibraries(report.Driver, loader, includeCuda: false);
        PhaseTrace.Mark("detect: nvml loaded");

        // NVML (tens of ms of driver ioctls) runs on a worker while this thread probes the host and loads the
        // catalogue: the two overlap, which is most of what keeps detect under half of `nvidia-smi -q`.
        var nvml = loader.Nvml.Loaded ? Worker.Start(() => { GpuInventory.Read(report, keepOpen: true); return true; }, "detect") : null;
        var services = Services.Create();
        report.Host = services.Host();
        PhaseTrace.Mark("detect: host + catalogue");

        CheckOutcome? failure = null;
        if (nvml != null)
        {
            var left = deadline - watch.Elapsed;
            var (completed, _, error) = nvml.Wait(left > TimeSpan.Zero ? left : TimeSpan.Zero);
            if (!completed)
                failure = CheckOutcome.Fail($"NVML did not answer within {deadline.TotalSeconds:0.#} s", Diagnoses.TimedOut("detect"));
            else if (error != null)
                failure = Diagnoses.FromException(error);
            if (failure != null) report.Driver.Error = failure.Evidence;
        }
        PhaseTrace.Mark("detect: nvml read");
        report.Tier = services.Tiers.Match(report.Host, failure is null ? report.Gpus : null, null);
        PhaseTrace.Mark("detect: tier matched");

        switch (OutputStyles.For(console, json))
        {
            case OutputStyle.Json: console.Out.WriteLine(JsonSerializer.Serialize(report, ReportJsonContext.Default.DeviceReport)); break;
            case OutputStyle.Plain: PlainReport.WriteInventory(console.Out, report, failure, verbose); break;
            default: RichReport.WriteInventory(console, report, failure, verbose); break;
        }
        PhaseTrace.Mark("detect: printed");
        return failure is null ? ReturnCode.Ok : ReturnCode.CheckFailed;
    }
}
