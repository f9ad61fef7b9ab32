using GpuRunner.Diagnostics.Checks;

namespace GpuRunner.Diagnostics.Frameworks;

/// <summary>Options of the framework checks (verify's --python, --libtorch).</summary>
public sealed record FrameworkCheckOptions
{
    public string? Python { get; init; }
    public string? LibTorch { get; init; }
    /// <summary>Null: decided from the native checks (NVML/CUDA device count), else from /dev/nvidia*.</summary>
    public bool? GpuPresent { get; init; }
}

/// <summary>The framework checks verify appends after the native ones (verify --only python|onnx|torch|model).</summary>
public static class FrameworkChecks
{
    public static readonly string[] Groups = ["python", "onnx", "torch", "model"];

    public static List<ICheck> Create(FrameworkCheckOptions options, IEnumerable<string>? only = null)
    {
        var groups = only?.ToHashSet(StringComparer.OrdinalIgnoreCase) ?? [.. Groups];
        var checks = new List<ICheck>();
        if (groups.Contains("python"))
        {
            var py = new PythonCheckOptions { Python = options.Python, GpuPresent = options.GpuPresent };
            checks.AddRange(Enum.GetValues<PythonFramework>().Select(f => new PythonFrameworkCheck(f, py)));
        }
        if (groups.Contains("onnx") || groups.Contains("ort"))
        {
            checks.Add(new OnnxRuntimeLoadCheck());
            checks.Add(new OnnxModelCheck("cpu", options.GpuPresent));
            checks.Add(new OnnxModelCheck("cuda", options.GpuPresent));
        }
        if (groups.Contains("torch"))
        {
            var lt = new LibTorchOptions { LibTorchDir = options.LibTorch, Python = options.Python };
            checks.Add(new TorchSharpLoadCheck(lt, options.GpuPresent));
            checks.Add(new TorchSharpCudaCheck(lt, options.GpuPresent));
        }
        if (groups.Contains("model"))
            checks.Add(new Models.ModelDeviceCheck(new LibTorchOptions { LibTorchDir = options.LibTorch, Python = options.Python }));
        return checks;
    }

    /// <summary>An explicit answer wins; else what the native checks found; else whether /dev/nvidia* exist.</summary>
    public static bool GpuPresent(CheckContext context, bool? explicitAnswer) =>
        explicitAnswer ?? (context.NvmlDeviceCount > 0 || context.CudaDeviceCount > 0 || GpuPresence.Probe());
}
