using GpuRunner.Native.Cuda;

namespace GpuRunner.Diagnostics.Checks;

/// <summary>cuInit(0) succeeds; records the driver's CUDA version and the device count CUDA sees.</summary>
public sealed class CudaInitCheck : ICheck
{
    public string Id => "cuda.init";
    public string Title => "CUDA initialises";
    public TimeSpan Deadline => TimeSpan.FromSeconds(20);
    public IReadOnlyList<string> Requires => ["driver.library"];

    public CheckOutcome Run(CheckContext context)
    {
        var cuda = context.Loader.Cuda;
        if (!cuda.Loaded)
            return context.Loader.Nvml.Loaded
                ? CheckOutcome.Fail($"CUDA unavailable: {cuda.FileName} not found ({cuda.Trace.Count} places tried)", Diagnoses.NoDriver(cuda.FileName))
                : CheckOutcome.Skip($"skipped: CUDA unavailable ({cuda.FileName} not found)");
        CudaDriver.Init();
        var version = CudaDriver.FormatVersion(CudaDriver.DriverVersion());
        var count = CudaDriver.DeviceCount();
        context.CudaDeviceCount = count;
        context.Report.Driver.CudaDriverVersion ??= version;
        return CheckOutcome.Pass($"CUDA {version} driver, {NvmlInitCheck.Plural(count, "device")}");
    }
}
