using GpuRunner.Diagnostics.Checks;
using GpuRunner.Diagnostics.Frameworks;

namespace GpuRunner.Diagnostics.Tests.Frameworks;

public class PythonFrameworkCheckTests
{
    private static readonly string FixtureDir = Path.Combine(AppContext.BaseDirectory, "Frameworks", "Fixtures", "python");

    private static ProcessOutcome Recorded(string name, int exitCode = 0) => new(exitCode,
        File.ReadAllText(Path.Combine(FixtureDir, name + ".stdout")),
        File.ReadAllText(Path.Combine(FixtureDir, name + ".stderr")), false, 1.5);

    [Theory]
    [InlineData("torch-ok-h200", PythonFramework.Torch, true, CheckStatus.Pass, null)]
    [InlineData("torch-cpu-wheel", PythonFramework.Torch, true, CheckStatus.Fail, "torch-cpu-wheel")]
    [InlineData("torch-driver-too-old", PythonFramework.Torch, true, CheckStatus.Fail, "driver-too-old")]
    [InlineData("torch-error-804", PythonFramework.Torch, true, CheckStatus.Fail, "forward-compat-804")]
    [InlineData("torch-sm90-not-compatible", PythonFramework.Torch, true, CheckStatus.Fail, "arch-not-compiled")]
    [InlineData("torch-no-driver", PythonFramework.Torch, true, CheckStatus.Fail, "no-nvidia-driver")]
    [InlineData("torch-no-cuda-gpus", PythonFramework.Torch, true, CheckStatus.Fail, "no-cuda-gpus")]
    [InlineData("torch-cuda-unknown-error", PythonFramework.Torch, true, CheckStatus.Fail, "cuda-unknown-error")]
    [InlineData("torch-nvml-mismatch", PythonFramework.Torch, true, CheckStatus.Fail, "nvml-version-mismatch")]
    [InlineData("torch-ecc", PythonFramework.Torch, true, CheckStatus.Fail, "ecc-uncorrectable")]
    [InlineData("torch-zerogpu", PythonFramework.Torch, true, CheckStatus.Fail, "zerogpu-main-process")]
    [InlineData("torch-cpu-wheel-no-gpu-host", PythonFramework.Torch, false, CheckStatus.Skip, null)]
    [InlineData("not-installed", PythonFramework.Torch, true, CheckStatus.Skip, null)]
    [InlineData("not-installed", PythonFramework.Jax, true, CheckStatus.Skip, null)]
    [InlineData("not-installed", PythonFramework.TensorFlow, true, CheckStatus.Skip, null)]
    [InlineData("jax-ok-h200", PythonFramework.Jax, true, CheckStatus.Pass, null)]
    [InlineData("jax-cpu-jaxlib", PythonFramework.Jax, true, CheckStatus.Fail, "jaxlib-cpu")]
    [InlineData("jax-plugin-error", PythonFramework.Jax, true, CheckStatus.Fail, "jax-plugin-error")]
    [InlineData("tf-missing-cudnn", PythonFramework.TensorFlow, true, CheckStatus.Fail, "tf-missing-library")]
    [InlineData("tf-ok", PythonFramework.TensorFlow, true, CheckStatus.Pass, null)]
    public void RecordedOutputGetsTheNamedDiagnosis(string fixture, PythonFramework framework, bool gpu, CheckStatus status, string? code)
    {
        var result = PythonFrameworkCheck.Interpret(framework, Recorded(fixture), gpu);
        Assert.Equal(status, result.Status);
        Assert.Equal(code, result.Diagnosis?.Name);
        Assert.DoesNotContain('\n', result.Evidence);
        if (status == CheckStatus.Fail)
        {
            Assert.False(string.IsNullOrWhiteSpace(result.Diagnosis!.Cause));
            Assert.False(string.IsNullOrWhiteSpace(result.Diagnosis.Fix));
        }
    }

    // shared/reference/gpu-facts.md's exact texts (its line breaks joined by one space): every hand-written stderr
    // must carry its failure mode's wording verbatim, so the matcher is tested on what users see (Fixtures/python/README.md).
    [Theory]
    [InlineData("torch-cpu-wheel", "AssertionError: Torch not compiled with CUDA enabled")]
    [InlineData("torch-cpu-wheel-no-gpu-host", "AssertionError: Torch not compiled with CUDA enabled")]
    [InlineData("torch-driver-too-old", "The NVIDIA driver on your system is too old (found version 10010)")]
    [InlineData("torch-error-804", "Error 804: forward compatibility was attempted on non supported HW")]
    [InlineData("torch-sm90-not-compatible", "NVIDIA H100 PCIe with CUDA capability sm_90 is not compatible with the current PyTorch installation.")]
    [InlineData("torch-no-driver", "RuntimeError: Found no NVIDIA driver on your system")]
    [InlineData("torch-no-cuda-gpus", "RuntimeError: No CUDA GPUs are available")]
    [InlineData("torch-cuda-unknown-error", "CUDA unknown error")]
    [InlineData("jax-cpu-jaxlib", "An NVIDIA GPU may be present on this machine, but a CUDA-enabled jaxlib is not installed. Falling back to cpu.")]
    [InlineData("jax-plugin-error", "\nJax plugin configuration error: Exception when calling jax_plugins.xla_cuda12.initialize()")]
    [InlineData("tf-missing-cudnn", "Could not load dynamic library 'libcudnn.so.8'")]
    [InlineData("tf-missing-cudnn", "Skipping registering GPU devices...")]
    [InlineData("torch-nvml-mismatch", "Failed to initialize NVML: Driver/library version mismatch")]
    [InlineData("torch-ecc", "CUDA error: uncorrectable ECC error encountered")]
    [InlineData("torch-zerogpu", "CUDA must not be initialized in the main process on Spaces with Stateless GPU environment")]
    public void StderrCarriesTheReferenceTextVerbatim(string fixture, string text) =>
        // A leading newline marks text that must start a line (no logging prefix before it).
        Assert.Contains(text, "\n" + File.ReadAllText(Path.Combine(FixtureDir, fixture + ".stderr")));

    [Fact]
    public void DetailsAreNamedInTheDiagnosis()
    {
        Assert.Contains("CUDA 10.1", PythonFrameworkCheck.Interpret(PythonFramework.Torch, Recorded("torch-driver-too-old"), true).Diagnosis!.Cause);
        Assert.Contains("sm_90", PythonFrameworkCheck.Interpret(PythonFramework.Torch, Recorded("torch-sm90-not-compatible"), true).Diagnosis!.Cause);
        Assert.Contains("libcudnn.so.8", PythonFrameworkCheck.Interpret(PythonFramework.TensorFlow, Recorded("tf-missing-cudnn"), true).Diagnosis!.Cause);
        Assert.Contains("xla_cuda12", PythonFrameworkCheck.Interpret(PythonFramework.Jax, Recorded("jax-plugin-error"), true).Diagnosis!.Cause);
    }

    [Fact]
    public void PassReportsVersionsAndDevice()
    {
        var torch = PythonFrameworkCheck.Interpret(PythonFramework.Torch, Recorded("torch-ok-h200"), true);
        Assert.Contains("2.11.0+cu130", torch.Evidence);
        Assert.Contains("NVIDIA H200", torch.Evidence);
        Assert.Contains("CUDA 13.0", torch.Evidence);
        var jax = PythonFrameworkCheck.Interpret(PythonFramework.Jax, Recorded("jax-ok-h200"), true);
        Assert.Contains("NVIDIA H200", jax.Evidence);
    }

    [Fact]
    public void ImportCrashWithoutResultIsFailWithTheLastErrorLine()
    {
        var result = PythonFrameworkCheck.Interpret(PythonFramework.Torch, Recorded("torch-import-crash", exitCode: 1), true);
        Assert.Equal(CheckStatus.Fail, result.Status);
        Assert.Contains("libcudnn.so.9", result.Evidence);
    }

    [Fact]
    public void TimeoutIsFailAndSaysSo()
    {
        var result = PythonFrameworkCheck.Interpret(PythonFramework.Jax, new ProcessOutcome(null, "", "", true, 90), true);
        Assert.Equal(CheckStatus.Fail, result.Status);
        Assert.Contains("did not finish", result.Evidence);
    }

    [Theory]
    [InlineData("10010", "10.1")]
    [InlineData("13000", "13.0")]
    [InlineData("12080", "12.8")]
    public void DriverVersionEncodingIsDecoded(string encoded, string expected) =>
        Assert.Equal(expected, PythonFailureModes.FormatCudaVersion(encoded));

    [Fact]
    public void UnknownTextMatchesNothing() => Assert.Null(PythonFailureModes.Match("all good\nnothing to see"));
}
