using GpuRunner.Diagnostics.Inventory;

namespace GpuRunner.Diagnostics.Checks;

/// <summary>libnvidia-ml.so.1 and libcuda.so.1 can be dlopen'ed (nothing is initialised yet).</summary>
public sealed class DriverLibraryCheck : ICheck
{
    public string Id => "driver.library";
    public string Title => "NVIDIA driver library loads";
    public TimeSpan Deadline => TimeSpan.FromSeconds(5);

    public CheckOutcome Run(CheckContext context)
    {
        GpuInventory.FillLibraries(context.Report.Driver, context.Loader, includeCuda: true);
        var nvml = context.Loader.Nvml;
        var cuda = context.Loader.Cuda;
        if (nvml.Loaded && cuda.Loaded)
            return CheckOutcome.Pass($"{nvml.FileName} from {nvml.LoadedFrom}, {cuda.FileName} from {cuda.LoadedFrom}");
        if (!nvml.Loaded && !cuda.Loaded)
            return CheckOutcome.Fail(
                $"no NVIDIA driver found: neither {nvml.FileName} nor {cuda.FileName} loads ({nvml.Trace.Count + cuda.Trace.Count} places tried)",
                Diagnoses.NoDriver($"{nvml.FileName} / {cuda.FileName}"));
        var (found, missing) = nvml.Loaded ? (nvml, cuda) : (cuda, nvml);
        return CheckOutcome.Warn($"{found.FileName} from {found.LoadedFrom}, but {missing.FileName} not found ({missing.Trace.Count} places tried)",
            Diagnoses.NoDriver(missing.FileName));
    }
}
