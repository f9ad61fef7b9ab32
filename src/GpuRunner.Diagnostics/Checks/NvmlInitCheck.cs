using GpuRunner.Diagnostics.Inventory;

namespace GpuRunner.Diagnostics.Checks;

/// <summary>nvmlInit_v2 succeeds; reads the driver and every GPU's inventory into the report.</summary>
public sealed class NvmlInitCheck : ICheck
{
    public string Id => "nvml.init";
    public string Title => "NVML initialises";
    public TimeSpan Deadline => TimeSpan.FromSeconds(10);
    public IReadOnlyList<string> Requires => ["driver.library"];

    public CheckOutcome Run(CheckContext context)
    {
        if (!context.Loader.Nvml.Loaded) return CheckOutcome.Skip($"skipped: {context.Loader.Nvml.FileName} not loaded");
        var report = context.Report;
        report.Gpus.Clear();
        GpuInventory.Read(report);
        context.NvmlDeviceCount = report.Gpus.Count;
        var names = string.Join(", ", report.Gpus.GroupBy(g => g.Name ?? "unnamed GPU").Select(g => g.Count() > 1 ? $"{g.Count()}x {g.Key}" : g.Key));
        return CheckOutcome.Pass($"driver {report.Driver.DriverVersion}, CUDA {report.Driver.CudaDriverVersion}, " +
            (report.Gpus.Count == 0 ? "no GPU" : $"{Plural(report.Gpus.Count, "GPU")} ({names})"));
    }

    internal static string Plural(int n, string noun) => n == 1 ? $"1 {noun}" : $"{n} {noun}s";
}
