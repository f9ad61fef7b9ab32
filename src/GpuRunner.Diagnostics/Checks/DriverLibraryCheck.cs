using GpuRunner.Diagnostics.Inventory;

namespace GpuRunner.Diagnostics.Checks;

/// <summary>
/// libnvidia-ml.so.1 and libcuda.so.1 can be dlopen'ed (nothing is initialised yet). No driver at all is a failure
/// only where a GPU is expected: on a CPU tier (the --expect one, or without --expect the one the host matches) it is
/// the right answer, and the GPU checks after it do not apply.
/// </summary>
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
        {
            var places = nvml.Trace.Count + cuda.Trace.Count;
            if (CpuTier(context) is { } cpu)
                return CheckOutcome.Skip($"no NVIDIA driver: a CPU-only host, and {cpu}; the GPU checks do not apply ({places} places searched)");
            var expected = context.Expect is { } e ? $", but {e} has a GPU" : "";
            return CheckOutcome.Fail(
                $"no NVIDIA driver found{expected}: neither {nvml.FileName} nor {cuda.FileName} loads ({places} places tried)",
                Diagnoses.NoDriver($"{nvml.FileName} / {cuda.FileName}"));
        }
        var (found, missing) = nvml.Loaded ? (nvml, cuda) : (cuda, nvml);
        return CheckOutcome.Warn($"{found.FileName} from {found.LoadedFrom}, but {missing.FileName} not found ({missing.Trace.Count} places tried)",
            Diagnoses.NoDriver(missing.FileName));
    }

    /// <summary>
    /// Why no GPU is expected here ("cpu-basic has no GPU"), or null when one is: --expect names a GPU flavor (or one
    /// the catalogue does not know). Without --expect nothing asked for a GPU, so the tier the host matches decides.
    /// </summary>
    private static string? CpuTier(CheckContext context)
    {
        if (context.Expect is { } expect)
            return context.Services.Tiers.HasGpu(expect) == false ? $"{expect} has no GPU" : null;
        var match = context.Services.Tiers.Match(context.Report.Host, [], null);
        return match?.Flavor is { } flavor ? $"it matches {flavor}, which has no GPU" : "no --expect asked for a GPU";
    }
}
