using System.CommandLine;
using System.Text.Json;
using GpuRunner.Cli.Infrastructure;
using GpuRunner.Cli.Rendering;
using GpuRunner.Diagnostics.Checks;
using GpuRunner.Diagnostics.Inventory;
using GpuRunner.Diagnostics.Report;
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
    };

    public static Command Create(IConsole console)
    {
        var command = new Command("detect", "Inventory the GPUs (NVML) and the host, and name the matching hardware tier. Fast: no CUDA initialisation.");
        command.Options.Add(Timeout);
        command.SetHandler(console, (parse, _) => Task.FromResult(Run(console, parse.GetValue(CommonOptions.Json), parse.GetValue(Timeout))));
        return command;
    }

    public static ReturnCode Run(IConsole console, bool json, double timeoutSeconds)
    {
        var deadline = VerifyCommand.ParseTimeout(timeoutSeconds);
        var services = Services.Create();
        var report = new DeviceReport();
        var loader = NativeLoader.Default;
        GpuInventory.FillLibraries(report.Driver, loader, includeCuda: false);

        CheckOutcome? failure = null;
        if (loader.Nvml.Loaded)
        {
            var (completed, _, error) = Worker.Run(() => { GpuInventory.Read(report); return true; }, deadline, "detect");
            if (!completed)
                failure = CheckOutcome.Fail($"NVML did not answer within {deadline.TotalSeconds:0.#} s", Diagnoses.TimedOut("detect"));
            else if (error != null)
                failure = Diagnoses.FromException(error);
            if (failure != null) report.Driver.Error = failure.Evidence;
        }
        report.Host = services.Host();
        report.Tier = services.Tiers.Match(report.Host, failure is null ? report.Gpus : null, null);

        if (json)
            console.Out.WriteLine(JsonSerializer.Serialize(report, ReportJsonContext.Default.DeviceReport));
        else
            PlainReport.WriteInventory(console.Out, report, failure);
        return failure is null ? ReturnCode.Ok : ReturnCode.CheckFailed;
    }
}
