using System.Globalization;

namespace GpuRunner.Diagnostics.Watch;

/// <summary>
/// One thing the GPU watch saw, classified. <see cref="Kind"/>: xid, ecc_dbe, ecc_sbe, gpu_lost, throttle,
/// power_source, pcie_replay, remap_pending, remap_failed, retired_pending. <see cref="Code"/>: the Xid number (also
/// for facts that stand for one: a double-bit ECC error is Xid 48, a lost GPU Xid 79), else the reason bit or count.
/// <see cref="Fatal"/>: the run cannot go on (the app's CUDA context is gone).
/// </summary>
public sealed record GpuWatchEvent(DateTimeOffset At, int Gpu, string Kind, int? Code, GpuFaultClass Class, bool Fatal,
    string Cause, string Verdict, string Advice)
{
    /// <summary>e.g. "the GPU fell off the bus (Xid 79) at 12:03:07: hardware fault, not your code" (UTC).</summary>
    public string Summary => $"{Cause} ({Tag}) at {At.UtcDateTime.ToString("HH:mm:ss", CultureInfo.InvariantCulture)}: {Verdict}";

    /// <summary>The runner's one log line: which GPU, the summary, what to do.</summary>
    public string LogLine => $"GPU {(Gpu < 0 ? "?" : Gpu.ToString(CultureInfo.InvariantCulture))}: {Summary}. {Advice}";

    /// <summary>True for a fault that is not the app's: the platform's (hardware, driver or firmware) and fatal.</summary>
    public bool PlatformFault => Fatal && Class is GpuFaultClass.Hardware or GpuFaultClass.Driver;

    private string Tag => Kind switch
    {
        "xid" => $"Xid {Code}",
        "gpu_lost" => "NVML_ERROR_GPU_IS_LOST",
        "ecc_dbe" => "double-bit ECC",
        "ecc_sbe" => "single-bit ECC",
        "throttle" => $"clock event reason 0x{Code:x}",
        _ => Kind.Replace('_', ' '),
    };
}
