using GpuRunner.Diagnostics.Frameworks;

namespace GpuRunner.Diagnostics.Tests.Frameworks;

public class OnnxRuntimeDiagnosisTests
{
    [Fact]
    public void MissingProviderLibraryIsNamed()
    {
        // ORT's own text when libonnxruntime_providers_cuda.so cannot load one of its dependencies (failure mode 7).
        var message = "[ErrorCode:Fail] Failed to load library libonnxruntime_providers_cuda.so with error: " +
                      "libcublasLt.so.13: cannot open shared object file: No such file or directory";
        var d = OnnxRuntimeDiagnosis.ExplainMessage(message);
        Assert.Equal(OnnxRuntimeDiagnosis.MissingLibraryCode, d.Name);
        Assert.Contains("libcublasLt.so.13", d.Cause);
        Assert.Contains("CPUExecutionProvider", d.Cause);
    }

    [Fact]
    public void DisabledFallbackRefusalIsTheSilentCpuFallback()
    {
        var d = OnnxRuntimeDiagnosis.ExplainMessage("This session contains graph nodes that are assigned to the default CPU EP, " +
            "but fallback to CPU EP has been explicitly disabled by the user.");
        Assert.Equal("ort-cpu-fallback", d.Name);
        Assert.Contains("CPUExecutionProvider", d.Cause);
    }

    [Fact]
    public void MissingProviderItselfIsNamed()
    {
        var d = OnnxRuntimeDiagnosis.ExplainMessage("Failed to load library libonnxruntime_providers_cuda.so with error: " +
            "libonnxruntime_providers_cuda.so: cannot open shared object file: No such file or directory");
        Assert.Equal("ort-cuda-provider-missing", d.Name);
        Assert.Contains("next to gpurunner", d.Fix);
    }

    [Fact]
    public void EveryLibraryTheLoaderCannotOpenIsListed()
    {
        LibraryProbe[] probes =
        [
            new("libcublasLt.so.13", true, "/usr/local/cuda/lib64/libcublasLt.so.13"),
            new("libcudnn.so.9", false, "libcudnn.so.9: cannot open shared object file"),
            new("libcurand.so.10", false, "libcurand.so.10: cannot open shared object file"),
        ];
        var d = OnnxRuntimeDiagnosis.MissingLibraries("libcudnn.so.9", probes);
        Assert.Contains("libcudnn.so.9, libcurand.so.10", d.Cause);
        Assert.DoesNotContain("libcublasLt", d.Cause);
    }

    [Fact]
    public void EntryPointNotFoundIsTheCpuPackage()
    {
        var d = OnnxRuntimeDiagnosis.Explain(new EntryPointNotFoundException(
            "Unable to find an entry point named 'OrtSessionOptionsAppendExecutionProvider_CUDA' in shared library 'onnxruntime'."));
        Assert.Equal(OnnxRuntimeDiagnosis.CpuPackageCode, d.Name);
    }

    [SkippableFact]
    public void RealProbeOnThisMachine()
    {
        // libc is always there; the CUDA 13 libraries are not on this CPU-only Debian machine.
        var libc = CudaLibraryProbe.ProbeOne("libc.so.6");
        Assert.True(libc.Found);
        Assert.Contains("libc.so.6", libc.Detail);
        var cublas = CudaLibraryProbe.ProbeOne("libcublasLt.so.13");
        Skip.If(cublas.Found, "this machine has CUDA 13 cuBLAS");
        Assert.Contains("libcublasLt.so.13", cublas.Detail);
    }
}
