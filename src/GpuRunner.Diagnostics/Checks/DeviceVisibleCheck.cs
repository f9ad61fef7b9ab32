using GpuRunner.Native.Cuda;

namespace GpuRunner.Diagnostics.Checks;

/// <summary>At least one GPU is visible; when none is, explains CUDA_VISIBLE_DEVICES / NVIDIA_VISIBLE_DEVICES / MIG.</summary>
public sealed class DeviceVisibleCheck : ICheck
{
    public string Id => "device.visible";
    public string Title => "a device is visible";
    public TimeSpan Deadline => TimeSpan.FromSeconds(5);
    public IReadOnlyList<string> Requires => ["nvml.init", "cuda.init"];

    public CheckOutcome Run(CheckContext context)
    {
        var cudaInit = context.Result("cuda.init");
        var nvmlInit = context.Result("nvml.init");
        if (cudaInit is null or { Status: CheckStatus.Skip } && nvmlInit is null or { Status: CheckStatus.Skip })
            return CheckOutcome.Skip("skipped: no driver to ask");

        var nvml = context.NvmlDeviceCount;
        var cuda = context.CudaDeviceCount;
        var cudaSaysNone = cuda == 0 || cudaInit?.Outcome.Diagnosis?.Name == "cuda-no-device";
        var cudaVisible = context.GetEnv("CUDA_VISIBLE_DEVICES");
        var nvidiaVisible = context.GetEnv("NVIDIA_VISIBLE_DEVICES");
        var seen = $"NVML sees {(nvml?.ToString() ?? "?")}, CUDA sees {(cudaSaysNone ? "0" : cuda?.ToString() ?? "?")}";

        if (cuda > 0)
        {
            if (nvml is { } n && n > cuda && cudaVisible is null)
                return CheckOutcome.Warn($"{seen}: some GPUs are hidden from CUDA", Diagnoses.NoneVisible($"{seen} although CUDA_VISIBLE_DEVICES is unset: MIG or a container device filter may hide GPUs"));
            var name = context.Report.Gpus.FirstOrDefault()?.Name ?? SafeCudaName();
            return CheckOutcome.Pass($"{NvmlInitCheck.Plural(cuda.Value, "device")} visible to CUDA ({name}); {seen}" +
                (cudaVisible is null ? "" : $"; CUDA_VISIBLE_DEVICES={cudaVisible}"));
        }
        if (!cudaSaysNone && nvml is null)
            return CheckOutcome.Skip("skipped: neither NVML nor CUDA initialised, so neither can list devices");
        if (!cudaSaysNone && nvml > 0)
            return CheckOutcome.Warn($"{seen}: CUDA could not be asked (cuda.init {cudaInit?.Status.ToString().ToUpperInvariant() ?? "did not run"})");

        var reasons = new List<string>();
        if (cudaVisible is not null)
            reasons.Add(cudaVisible.Trim() is "" or "-1" or "none" or "NoDevFiles"
                ? $"CUDA_VISIBLE_DEVICES='{cudaVisible}' hides every GPU"
                : $"CUDA_VISIBLE_DEVICES='{cudaVisible}' selects devices that may not exist (NVML sees {nvml?.ToString() ?? "?"})");
        if (nvidiaVisible is "void" or "none" or "")
            reasons.Add($"NVIDIA_VISIBLE_DEVICES='{nvidiaVisible}' asked the container runtime to mount no GPU");
        var mig = context.Report.Gpus.Where(g => g.MigMode == "enabled").Select(g => g.Index).ToList();
        if (mig.Count > 0)
            reasons.Add($"MIG is enabled on GPU {string.Join(", ", mig)}: CUDA sees MIG instances only, and none is created or selected");
        if (nvml == 0) reasons.Add("NVML lists no GPU either: the container was given none");
        if (reasons.Count == 0) reasons.Add("no CUDA_VISIBLE_DEVICES / NVIDIA_VISIBLE_DEVICES / MIG setting explains it");
        return CheckOutcome.Fail($"no GPU visible: {seen}", Diagnoses.NoneVisible(string.Join("; ", reasons)));
    }

    private static string SafeCudaName()
    {
        try { return CudaDevice.Get(0).Name; }
        catch (Exception e) when (e is CudaException or EntryPointNotFoundException) { return "device 0"; }
    }
}
