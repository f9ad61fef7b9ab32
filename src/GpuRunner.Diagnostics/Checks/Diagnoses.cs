using GpuRunner.Native;
using GpuRunner.Native.Cuda;
using GpuRunner.Native.Nvml;

namespace GpuRunner.Diagnostics.Checks;

/// <summary>
/// The named diagnoses: one per known failure mode (../shared/reference/gpu-facts.md), each with the text users
/// see elsewhere (PyTorch, nvidia-smi) so a search lands on the same cause.
/// </summary>
public static class Diagnoses
{
    public static Diagnosis NoDriver(string library) => new("no-nvidia-driver",
        $"{library} is not in this container (PyTorch says \"Found no NVIDIA driver on your system\"): it was started without GPU access, or this host has no NVIDIA GPU",
        "start the container with GPU access (docker run --gpus all / the NVIDIA container runtime, NVIDIA_VISIBLE_DEVICES=all, NVIDIA_DRIVER_CAPABILITIES=compute,utility), or pick GPU hardware for the Space; set GPURUNNER_NVML_PATH / GPURUNNER_CUDA_PATH if the driver lives elsewhere");

    public static Diagnosis SymbolMissing(DriverSymbolMissingException e) => new("driver-symbol-missing",
        $"{e.Library} lacks {e.Function}: the driver is older than this call, or the file is not NVIDIA's library (a stub or a wrong link)",
        "upgrade the NVIDIA driver on the host, or point GPURUNNER_NVML_PATH / GPURUNNER_CUDA_PATH at the real driver library");

    public static Diagnosis Nvml(NvmlException e) => e.Code switch
    {
        NvmlReturn.DriverNotLoaded => new("nvml-driver-not-loaded",
            $"NVML_ERROR_DRIVER_NOT_LOADED ({e.Text}): libnvidia-ml is present but the NVIDIA kernel driver is not running (no /dev/nvidia* in the container, or nvidia.ko not loaded on the host)",
            "on the host run nvidia-smi; load the driver (modprobe nvidia) or reinstall it; start the container with GPU access so /dev/nvidia* are mounted"),
        NvmlReturn.LibRmVersionMismatch => new("nvml-driver-library-mismatch",
            $"NVML_ERROR_LIB_RM_VERSION_MISMATCH (\"Failed to initialize NVML: Driver/library version mismatch\"): the driver was upgraded under a running system, so the kernel module and libnvidia-ml differ",
            "reboot the host (or unload and reload the nvidia kernel modules) so the kernel driver matches the user-space library, then restart the container"),
        NvmlReturn.Unknown => new("nvml-unknown-error",
            $"NVML_ERROR_UNKNOWN (\"Failed to initialize NVML: Unknown Error\"): the container usually lost access to the GPU device files after a cgroup reload on the host (systemctl daemon-reload)",
            "restart the container; on the host, keep device access across reloads (NVIDIA container toolkit with CDI, or pass /dev/nvidia* explicitly)"),
        NvmlReturn.NoPermission => new("nvml-no-permission",
            $"NVML_ERROR_NO_PERMISSION ({e.Text}): this user cannot open /dev/nvidia*",
            "run with GPU access for this user (device permissions / the video group), or via the NVIDIA container runtime"),
        NvmlReturn.GpuIsLost => GpuLost(e.Symbol, e.Text),
        _ => new("nvml-error", $"{e.Symbol} ({e.Text}) from {e.Function}", "run nvidia-smi on the host to see the driver's state; restart the container or the host if the error persists"),
    };

    public static Diagnosis Cuda(CudaException e) => e.Result switch
    {
        CUresult.CUDA_ERROR_NO_DEVICE => new("cuda-no-device",
            $"CUDA_ERROR_NO_DEVICE ({e.Text}; PyTorch: \"No CUDA GPUs are available\"): the driver is there but no GPU is visible to this process",
            "check CUDA_VISIBLE_DEVICES (empty, -1 or a wrong index hides every GPU) and NVIDIA_VISIBLE_DEVICES (void/none), and MIG (with MIG on, a process sees MIG instances, not the GPU)"),
        CUresult.CUDA_ERROR_INSUFFICIENT_DRIVER => new("cuda-driver-too-old",
            $"CUDA_ERROR_INSUFFICIENT_DRIVER ({e.Text}; PyTorch: \"The NVIDIA driver on your system is too old\"): the driver supports an older CUDA than the libraries in this container need",
            "upgrade the host's NVIDIA driver (CUDA 12.x needs >= 525.60.13, 13.0 needs >= 580.65.06), or use a wheel/image built for the CUDA version the driver reports"),
        CUresult.CUDA_ERROR_COMPAT_NOT_SUPPORTED_ON_DEVICE => new("cuda-forward-compat-unsupported",
            $"CUDA_ERROR_COMPAT_NOT_SUPPORTED_ON_DEVICE (\"Error 804: forward compatibility was attempted on non supported HW\"): a CUDA forward-compatibility package is in use on a GPU that does not support it",
            "remove the cuda-compat libraries from LD_LIBRARY_PATH and use a driver that natively supports the container's CUDA version"),
        CUresult.CUDA_ERROR_SYSTEM_DRIVER_MISMATCH => new("cuda-driver-mismatch",
            $"CUDA_ERROR_SYSTEM_DRIVER_MISMATCH ({e.Text}): libcuda and the kernel driver are different versions",
            "reboot the host after a driver upgrade so the kernel module matches libcuda, then restart the container"),
        CUresult.CUDA_ERROR_STUB_LIBRARY => new("cuda-stub-library",
            $"CUDA_ERROR_STUB_LIBRARY ({e.Text}): the toolkit's stub libcuda.so was loaded instead of the driver's",
            "remove .../cuda/lib64/stubs from LD_LIBRARY_PATH; the real libcuda.so.1 comes with the driver (mounted by the NVIDIA runtime)"),
        CUresult.CUDA_ERROR_ECC_UNCORRECTABLE => new("gpu-uncorrectable-ecc",
            $"CUDA_ERROR_ECC_UNCORRECTABLE (\"CUDA error: uncorrectable ECC error encountered\"): the GPU's memory has a hardware fault",
            "stop using this GPU: reset it (nvidia-smi -r) or move to another machine, and report the hardware fault"),
        CUresult.CUDA_ERROR_OUT_OF_MEMORY => new("cuda-out-of-memory",
            $"CUDA_ERROR_OUT_OF_MEMORY ({e.Text}): other processes hold the GPU's memory",
            "see nvidia-smi for processes using the GPU; stop them or pick a GPU with more memory"),
        CUresult.CUDA_ERROR_UNKNOWN => new("cuda-unknown-error",
            $"CUDA_ERROR_UNKNOWN (\"CUDA unknown error\"): usually CUDA_VISIBLE_DEVICES changed after the process started, the container lost device access after a cgroup reload, or the GPU fell off the bus (kernel log: NVRM Xid 79)",
            "set CUDA_VISIBLE_DEVICES before the process starts; restart the container; check the host's kernel log (dmesg | grep -i xid) and reset or replace the GPU if it reports an Xid"),
        _ => new("cuda-error", $"{e.Name} ({e.Text}) from {e.Function}", "check the host's kernel log (dmesg | grep -i -E 'nvrm|xid'), restart the container, and report the error if it persists"),
    };

    public static Diagnosis GpuLost(string code, string text) => new("gpu-fallen-off-bus",
        $"{code} ({text}): the GPU stopped responding (kernel log: \"NVRM: Xid ... 79 ... GPU has fallen off the bus\")",
        "the GPU needs a reset or the host a reboot; move the workload to another machine and report the hardware fault");

    public static Diagnosis TimedOut(string checkId) => new("driver-call-hung",
        $"a driver call in {checkId} did not return in time: the GPU or driver is wedged (a hung NVML lock, an Xid, a GPU being reset)",
        "check the host's kernel log (dmesg | grep -i xid) and nvidia-smi; reset the GPU (nvidia-smi -r) or restart the host; raise --timeout if the machine is merely slow");

    public static Diagnosis NoneVisible(string evidence) => new("no-visible-device", evidence,
        "unset CUDA_VISIBLE_DEVICES or set it to valid indices (0,1,…) or GPU UUIDs before the process starts; set NVIDIA_VISIBLE_DEVICES=all (not void/none) when the container starts; with MIG on, address a MIG instance (MIG-<uuid>)");

    /// <summary>Any exception a check lets escape: the known driver failures get their diagnosis; anything else is a bug, said so.</summary>
    public static CheckOutcome FromException(Exception e) => e switch
    {
        DriverLibraryNotFoundException n => CheckOutcome.Fail($"{n.Result.FileName} not found ({n.Result.Trace.Count} places tried)", NoDriver(n.Result.FileName)),
        DriverSymbolMissingException s => CheckOutcome.Fail(s.Message, SymbolMissing(s)),
        NvmlException n => CheckOutcome.Fail($"{n.Function}: {n.Symbol} ({n.Text})", Nvml(n)),
        CudaException c => CheckOutcome.Fail($"{c.Function}: {c.Name} ({c.Text})", Cuda(c)),
        EntryPointNotFoundException p => CheckOutcome.Fail(p.Message, new("driver-symbol-missing", p.Message, "upgrade the NVIDIA driver on the host")),
        _ => CheckOutcome.Fail($"unexpected {e.GetType().Name}: {e.Message}",
            new("internal-error", $"a bug in GpuRunner: {e.GetType().Name}: {e.Message}", "report it with this output (run with --json for details)")),
    };
}
