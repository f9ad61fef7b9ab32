using System.Text.RegularExpressions;
using Microsoft.ML.OnnxRuntime;

using GpuRunner.Diagnostics.Checks;

namespace GpuRunner.Diagnostics.Frameworks;

/// <summary>Turns ONNX Runtime's CUDA failures into a named cause and fix.</summary>
public static partial class OnnxRuntimeDiagnosis
{
    public const string CpuPackageCode = "ort-cpu-package";
    public const string MissingLibraryCode = "ort-cuda-library-missing";

    public static readonly Diagnosis CpuPackage = new(CpuPackageCode,
        "the CPU build of ONNX Runtime is installed where the GPU build was meant (no OrtSessionOptionsAppendExecutionProvider_CUDA entry point)",
        "use Microsoft.ML.OnnxRuntime.Gpu.Linux 1.31.0 (GpuRunner: publish with -p:OrtGpu=true); in Python: pip install onnxruntime-gpu instead of onnxruntime");

    /// <summary>Appends the CUDA EP with TF32 off (models/README.md: tolerance assumes true FP32 GEMMs).</summary>
    public static void AppendCuda(SessionOptions options, int deviceId)
    {
        // The legacy entry point first: on the CPU package it is missing, which is the clearest signal we can get.
        using (var probe = new SessionOptions()) probe.AppendExecutionProvider_CUDA(deviceId);
        using var cuda = new OrtCUDAProviderOptions();
        try
        {
            cuda.UpdateOptions(new Dictionary<string, string> { ["device_id"] = deviceId.ToString(), ["use_tf32"] = "0" });
        }
        catch (OnnxRuntimeException)
        {
            // A build that does not know use_tf32 computes FP32 anyway; only the device matters then.
            cuda.UpdateOptions(new Dictionary<string, string> { ["device_id"] = deviceId.ToString() });
        }
        options.AppendExecutionProvider_CUDA(cuda);
    }

    public static Diagnosis Explain(Exception e)
    {
        var inner = e is TypeInitializationException { InnerException: { } i } ? i : e;
        if (inner is EntryPointNotFoundException) return CpuPackage;
        if (inner is DllNotFoundException)
            return new Diagnosis("ort-native-missing", "libonnxruntime.so itself cannot be loaded: " + OneLine(inner),
                "publish GpuRunner self-contained for linux-x64 so libonnxruntime.so sits beside it");
        return ExplainMessage(inner.Message);
    }

    /// <summary>Explains ORT's error text (OnnxRuntimeException cannot be built outside ORT, so tests call this).</summary>
    public static Diagnosis ExplainMessage(string message)
    {
        if (message.Contains("not enabled in this build", StringComparison.OrdinalIgnoreCase)) return CpuPackage;
        var missing = MissingLibrary().Match(message);
        if (missing.Success && missing.Groups["lib"].Value.StartsWith("libonnxruntime_providers", StringComparison.Ordinal))
            return new Diagnosis("ort-cuda-provider-missing",
                $"{missing.Groups["lib"].Value} (ONNX Runtime's CUDA provider, 284 MB) is not beside the application, so ORT can only use the CPU",
                "copy libonnxruntime_providers_cuda.so and libonnxruntime_providers_shared.so from Microsoft.ML.OnnxRuntime.Gpu.Linux 1.31.0 (runtimes/linux-x64/native) next to gpurunner");
        if (missing.Success)
            return MissingLibraries(missing.Groups["lib"].Value, CudaLibraryProbe.Probe());
        // "This session contains graph nodes that are assigned to the default CPU EP, but fallback to CPU EP has been
        // explicitly disabled by the user."
        if (message.Contains("fallback to CPU EP", StringComparison.OrdinalIgnoreCase) || message.Contains("CPU EP fallback", StringComparison.OrdinalIgnoreCase))
            return new Diagnosis("ort-cpu-fallback", "part of the model would silently run on CPUExecutionProvider: the CUDA EP did not take every node",
                "check the model's operators against the CUDA EP's supported list, or accept CPU placement knowingly");
        var known = PythonFailureModes.Match(message);
        var first = message.Split('\n')[0].Trim();
        return known ?? new Diagnosis("ort-cuda-error", $"ONNX Runtime's CUDA EP failed: {(first.Length > 300 ? first[..300] + "…" : first)}",
            "run gpurunner verify --only driver; check that the CUDA 13 cuBLAS/cuRAND/cudart and cuDNN 9 are installed");
    }

    /// <summary>Failure mode 7: the CUDA provider cannot load a library; name every one the loader cannot open.</summary>
    public static Diagnosis MissingLibraries(string? reported, IReadOnlyList<LibraryProbe> probes)
    {
        var missing = probes.Where(p => !p.Found).Select(p => p.Name).ToList();
        if (reported is not null && !missing.Contains(reported) && !reported.StartsWith("libonnxruntime", StringComparison.Ordinal))
            missing.Insert(0, reported);
        var names = missing.Count > 0 ? string.Join(", ", missing) : reported ?? "a CUDA library";
        return new Diagnosis(MissingLibraryCode,
            $"ONNX Runtime's CUDA provider cannot load {names}; without it ORT runs on CPUExecutionProvider",
            "install the CUDA 13 runtime libraries (cuBLAS 13, cuRAND 10, cudart 13) and cuDNN 9, e.g. the pip packages nvidia-cublas/nvidia-cuda-runtime/nvidia-curand/nvidia-cudnn-cu13, and put their lib folders on LD_LIBRARY_PATH");
    }

    public static string OneLine(Exception e)
    {
        var inner = e is TypeInitializationException { InnerException: { } i } ? i : e;
        var line = inner.Message.Split('\n')[0].Trim();
        return line.Length > 300 ? line[..300] + "…" : line;
    }

    // "Failed to load library libonnxruntime_providers_cuda.so with error: libcublasLt.so.13: cannot open shared object file"
    [GeneratedRegex(@"(?:with error: )?(?<lib>lib[\w.+-]+\.so[\w.]*): cannot open shared object file")]
    private static partial Regex MissingLibrary();
}
