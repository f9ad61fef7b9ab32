using System.Text.RegularExpressions;

using GpuRunner.Diagnostics.Checks;

namespace GpuRunner.Diagnostics.Frameworks;

/// <summary>
/// The known "CUDA is not available" failure modes (shared/reference/gpu-facts.md), matched on the exact texts the
/// frameworks print. Order matters: the most specific text first (a broken JAX plugin is followed by the generic
/// "Falling back to cpu" line, a driver mismatch by "CUDA unavailable").
/// </summary>
public static partial class PythonFailureModes
{
    private sealed record Mode(string Code, Regex Pattern, Func<Match, (string Cause, string Fix)> Make);

    public static readonly Diagnosis TorchCpuWheelDiagnosis = new("torch-cpu-wheel",
        "a CPU-only PyTorch wheel is installed (torch.version.cuda is None)",
        "install a CUDA build: pip install torch --index-url https://download.pytorch.org/whl/cu130 (use the cuXXX tag your driver supports)");

    private static readonly Mode[] Modes =
    [
        new("zerogpu-main-process", ZeroGpu(), _ => (
            "CUDA was initialised in the main process of a ZeroGPU (Stateless GPU) Space; the GPU is only attached inside @spaces.GPU functions",
            "move every CUDA use (model.to(\"cuda\"), torch.cuda.* calls) into a function decorated with @spaces.GPU; keep import-time code on CPU")),
        new("ecc-uncorrectable", Ecc(), _ => (
            "the GPU reported an uncorrectable ECC error (hardware fault)",
            "stop using this GPU: restart on another machine and report it to the provider (nvidia-smi -q -d ECC shows the counters)")),
        new("gpu-fallen-off-bus", Xid79(), _ => (
            "the GPU has fallen off the bus (Xid 79): the host lost the device",
            "the machine needs a reset; restart on another machine and report it to the provider")),
        new("nvml-version-mismatch", NvmlMismatch(), _ => (
            "the NVIDIA kernel module and the user-space driver libraries differ (driver upgraded under a running system)",
            "reboot the host (or reload the nvidia kernel modules) so both are the same version; in a container, restart it on a consistent host")),
        new("nvml-unknown-error", NvmlUnknown(), _ => (
            "NVML cannot reach the GPU: the container lost device access (typically after a cgroup/systemd reload on the host)",
            "restart the container; on the host, use the NVIDIA container toolkit's cgroup driver settings that survive reloads")),
        new("forward-compat-804", Error804(), _ => (
            "CUDA forward-compatibility libraries (cuda-compat) are in use on a GPU or driver that does not support them (Error 804)",
            "remove the cuda-compat libraries from LD_LIBRARY_PATH, or install a framework build for a CUDA version the installed driver supports")),
        new("driver-too-old", DriverTooOld(), m => (
            m.Groups["v"].Success
                ? $"the framework was built for a newer CUDA than the driver supports (driver reports CUDA {FormatCudaVersion(m.Groups["v"].Value)})"
                : "the framework was built for a newer CUDA than the driver supports",
            "install a build for the driver's CUDA version (e.g. torch from the matching cuXXX index), or upgrade the NVIDIA driver")),
        new("arch-not-compiled", ArchNotCompiled(), m => (
            m.Groups["sm"].Success
                ? $"the installed build has no kernels for this GPU's architecture ({m.Groups["sm"].Value})"
                : "the installed build has no kernels for this GPU's architecture",
            "install a newer build compiled for this architecture (sm_90 needs a CUDA 11.8+ PyTorch; sm_120 needs CUDA 12.8+)")),
        new("torch-cpu-wheel", TorchCpuWheel(), _ => (TorchCpuWheelDiagnosis.Cause, TorchCpuWheelDiagnosis.Fix)),
        new("no-nvidia-driver", NoDriver(), _ => (
            "no NVIDIA driver is visible: the container was started without GPU access",
            "start the container with the NVIDIA runtime (docker run --gpus all, or NVIDIA_VISIBLE_DEVICES=all with runtime nvidia)")),
        new("no-container-toolkit", NoToolkit(), _ => (
            "the host has no NVIDIA container toolkit, so Docker cannot give the container a GPU",
            "install nvidia-container-toolkit on the host and configure Docker's runtime (nvidia-ctk runtime configure)")),
        new("no-cuda-gpus", NoCudaGpus(), _ => (
            $"CUDA sees no GPU although a driver is present: CUDA_VISIBLE_DEVICES={Env("CUDA_VISIBLE_DEVICES")} hides them (or a MIG setup exposes none)",
            "unset CUDA_VISIBLE_DEVICES or set it to a valid index/UUID before the process starts")),
        new("cuda-unknown-error", CudaUnknown(), _ => (
            "CUDA initialisation failed with 'unknown error': CUDA_VISIBLE_DEVICES changed after start, or the device was lost",
            "set CUDA_VISIBLE_DEVICES before the process starts (never from inside it); if it persists, restart the container")),
        new("jax-plugin-error", JaxPlugin(), m => (
            $"the JAX CUDA plugin {(m.Groups["p"].Success ? m.Groups["p"].Value + " " : "")}failed to initialise (its libraries or versions do not match jaxlib)",
            "reinstall matching versions: pip install -U \"jax[cuda12]\" (or cuda13), so jax, jaxlib and the jax-cuda plugin/pjrt share one version")),
        new("jaxlib-cpu", JaxCpu(), _ => (
            "a CPU-only jaxlib is installed (no CUDA plugin), so JAX falls back to the CPU",
            "pip install -U \"jax[cuda12]\" (or \"jax[cuda13]\" for a CUDA 13 driver)")),
        new("tf-missing-library", TfMissingLibrary(), m => (
            $"TensorFlow cannot load {m.Groups["lib"].Value}, so it skips registering GPU devices",
            $"install the CUDA/cuDNN version this TensorFlow was built for (pip install tensorflow[and-cuda] brings them) so that {m.Groups["lib"].Value} is on the loader path")),
        new("tf-skipping-gpu", TfSkipping(), _ => (
            "TensorFlow could not load some GPU libraries and skipped registering GPU devices",
            "pip install tensorflow[and-cuda], or install the CUDA/cuDNN versions listed in tf.sysconfig.get_build_info()")),
    ];

    /// <summary>The first known failure mode whose text appears in <paramref name="text"/>; null when none does.</summary>
    public static Diagnosis? Match(string text)
    {
        foreach (var mode in Modes)
        {
            var m = mode.Pattern.Match(text);
            if (!m.Success) continue;
            var (cause, fix) = mode.Make(m);
            return new Diagnosis(mode.Code, cause, fix);
        }
        return null;
    }

    /// <summary>10010 → "10.1", 13000 → "13.0" (the cudaDriverGetVersion encoding).</summary>
    public static string FormatCudaVersion(string encoded) =>
        int.TryParse(encoded, out var v) ? $"{v / 1000}.{v % 1000 / 10}" : encoded;

    private static string Env(string name) => Environment.GetEnvironmentVariable(name) is { } v ? $"'{v}'" : "(unset)";

    [GeneratedRegex(@"CUDA must not be initialized in the main process")] private static partial Regex ZeroGpu();
    [GeneratedRegex(@"uncorrectable ECC error encountered")] private static partial Regex Ecc();
    [GeneratedRegex(@"Xid.{0,40}\b79\b|GPU has fallen off the bus")] private static partial Regex Xid79();
    [GeneratedRegex(@"Driver/library version mismatch|system has unsupported display driver / cuda driver combination")] private static partial Regex NvmlMismatch();
    [GeneratedRegex(@"Failed to initialize NVML: Unknown Error")] private static partial Regex NvmlUnknown();
    [GeneratedRegex(@"Error 804|forward compatibility was attempted on non supported HW")] private static partial Regex Error804();
    [GeneratedRegex(@"NVIDIA driver on your system is too old(?: \(found version (?<v>\d+)\))?|CUDA driver version is insufficient for CUDA runtime version")] private static partial Regex DriverTooOld();
    [GeneratedRegex(@"with CUDA capability (?<sm>sm_\d+a?) is not compatible with the current PyTorch installation|no kernel image is available for execution on the device")] private static partial Regex ArchNotCompiled();
    [GeneratedRegex(@"Torch not compiled with CUDA enabled")] private static partial Regex TorchCpuWheel();
    [GeneratedRegex(@"Found no NVIDIA driver on your system")] private static partial Regex NoDriver();
    [GeneratedRegex(@"could not select device driver """" with capabilities: \[\[gpu\]\]")] private static partial Regex NoToolkit();
    [GeneratedRegex(@"No CUDA GPUs are available")] private static partial Regex NoCudaGpus();
    [GeneratedRegex(@"CUDA unknown error")] private static partial Regex CudaUnknown();
    [GeneratedRegex(@"Jax plugin configuration error(?:: Exception when calling jax_plugins\.(?<p>[\w.]+)\.initialize\(\))?")] private static partial Regex JaxPlugin();
    [GeneratedRegex(@"a CUDA-enabled jaxlib is not installed|Falling back to cpu")] private static partial Regex JaxCpu();
    [GeneratedRegex(@"Could not load dynamic library '(?<lib>[^']+)'")] private static partial Regex TfMissingLibrary();
    [GeneratedRegex(@"Skipping registering GPU devices")] private static partial Regex TfSkipping();
}
