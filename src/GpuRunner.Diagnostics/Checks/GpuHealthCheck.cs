using GpuRunner.Diagnostics.Report;

namespace GpuRunner.Diagnostics.Checks;

/// <summary>ECC errors, retired pages / row remapping and hardware throttling from the NVML inventory.</summary>
public sealed class GpuHealthCheck : ICheck
{
    public string Id => "gpu.health";
    public string Title => "GPU memory and clocks are healthy";
    public TimeSpan Deadline => TimeSpan.FromSeconds(5);
    public IReadOnlyList<string> Requires => ["nvml.init"];

    private static readonly string[] HardwareThrottles = ["hw_slowdown", "hw_thermal_slowdown", "hw_power_brake_slowdown", "sw_thermal_slowdown"];

    public CheckOutcome Run(CheckContext context)
    {
        if (!context.Passed("nvml.init")) return context.SkipBecause("nvml.init");
        var gpus = context.Report.Gpus;
        if (gpus.Count == 0) return CheckOutcome.Skip("skipped: no GPU");

        foreach (var gpu in gpus)
        {
            var tag = $"GPU {gpu.Index} ({gpu.Name})";
            if (gpu.Ecc.VolatileUncorrected > 0 || gpu.RowRemap.Failure == true || gpu.RetiredPages.DoubleBit > 0 && gpu.RetiredPages.Pending == true)
                return CheckOutcome.Fail($"{tag}: {gpu.Ecc.VolatileUncorrected ?? 0} uncorrected ECC errors since boot, row-remap failure {Yes(gpu.RowRemap.Failure)}",
                    new Diagnosis("gpu-uncorrectable-ecc",
                        "the GPU's memory reports uncorrectable errors (what CUDA later reports as \"uncorrectable ECC error encountered\")",
                        "stop using this GPU: reset it (nvidia-smi -r) or move to another machine, and report the hardware fault"));
            if (gpu.RowRemap.Pending == true || gpu.RetiredPages.Pending == true)
                return CheckOutcome.Warn($"{tag}: a row remap / page retirement is pending",
                    new Diagnosis("gpu-reset-pending", "memory repairs take effect only after a GPU reset", "reset the GPU (nvidia-smi -r) or reboot the host when idle"));
            var throttled = gpu.ThrottleReasons?.Intersect(HardwareThrottles).ToList() ?? [];
            if (throttled.Count > 0)
                return CheckOutcome.Warn($"{tag}: clocks held down by {string.Join(", ", throttled)} at {gpu.TemperatureC?.ToString() ?? "?"} C",
                    new Diagnosis("gpu-throttled", "the GPU is slowing itself down for heat or power", "check cooling and the power limit (nvidia-smi -q -d PERFORMANCE,TEMPERATURE,POWER)"));
        }
        var first = gpus[0];
        return CheckOutcome.Pass($"ECC {first.Ecc.Mode ?? "n/a"}, {first.Ecc.VolatileUncorrected?.ToString() ?? "n/a"} uncorrected errors, " +
            $"no pending retirement, clocks {Describe(first.ThrottleReasons)}" + (gpus.Count > 1 ? $" (all {gpus.Count} GPUs)" : ""));
    }

    private static string Yes(bool? b) => b == true ? "yes" : "no";

    private static string Describe(List<string>? reasons) =>
        reasons is null ? "n/a" : reasons.Count == 0 ? "unrestricted" : $"limited only by {string.Join(", ", reasons)}";
}
