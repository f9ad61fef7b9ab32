using System.Runtime.InteropServices;

namespace GpuRunner.Native.Nvml;

// Layouts from nvml.h. Names of the imports are the C names on purpose: grep-able against NVIDIA's docs.
[StructLayout(LayoutKind.Sequential)]
public unsafe struct nvmlPciInfo_t
{
    public fixed byte busIdLegacy[16]; // NVML_DEVICE_PCI_BUS_ID_BUFFER_V2_SIZE
    public uint domain, bus, device, pciDeviceId, pciSubSystemId;
    public fixed byte busId[32];       // NVML_DEVICE_PCI_BUS_ID_BUFFER_SIZE
}

[StructLayout(LayoutKind.Sequential)]
public struct nvmlMemory_t { public ulong total, free, used; }

/// <summary>
/// The v2 layout that nvidia-smi reads: "used" without the driver's reservation, which v1 counts as used (the
/// H200 showed 615 MiB used by v1 while nvidia-smi said 0 MiB used and 615 MiB reserved).
/// </summary>
[StructLayout(LayoutKind.Sequential)]
public struct nvmlMemory_v2_t
{
    public uint version;
    public ulong total, reserved, free, used;

    /// <summary>NVML_STRUCT_VERSION(Memory, 2): sizeof | 2 &lt;&lt; 24.</summary>
    public static readonly uint Version = (uint)System.Runtime.CompilerServices.Unsafe.SizeOf<nvmlMemory_v2_t>() | (2u << 24);
}

[StructLayout(LayoutKind.Sequential)]
public struct nvmlUtilization_t { public uint gpu, memory; }

/// <summary>Raw NVML entry points ("nvml" is resolved by NativeLoader). Use <see cref="NvmlSession"/> instead.</summary>
public static unsafe partial class NvmlNative
{
    private const string Lib = "nvml";

    [LibraryImport(Lib)] public static partial NvmlReturn nvmlInit_v2();
    [LibraryImport(Lib)] public static partial NvmlReturn nvmlShutdown();
    [LibraryImport(Lib)] public static partial byte* nvmlErrorString(NvmlReturn result);
    [LibraryImport(Lib)] public static partial NvmlReturn nvmlSystemGetDriverVersion(byte* version, uint length);
    [LibraryImport(Lib)] public static partial NvmlReturn nvmlSystemGetCudaDriverVersion_v2(out int cudaDriverVersion);
    [LibraryImport(Lib)] public static partial NvmlReturn nvmlDeviceGetCount_v2(out uint deviceCount);
    [LibraryImport(Lib)] public static partial NvmlReturn nvmlDeviceGetHandleByIndex_v2(uint index, out nint device);
    [LibraryImport(Lib)] public static partial NvmlReturn nvmlDeviceGetName(nint device, byte* name, uint length);
    [LibraryImport(Lib)] public static partial NvmlReturn nvmlDeviceGetUUID(nint device, byte* uuid, uint length);
    [LibraryImport(Lib)] public static partial NvmlReturn nvmlDeviceGetPciInfo_v3(nint device, out nvmlPciInfo_t pci);
    [LibraryImport(Lib)] public static partial NvmlReturn nvmlDeviceGetMemoryInfo(nint device, out nvmlMemory_t memory);
    [LibraryImport(Lib)] public static partial NvmlReturn nvmlDeviceGetMemoryInfo_v2(nint device, ref nvmlMemory_v2_t memory);
    [LibraryImport(Lib)] public static partial NvmlReturn nvmlDeviceGetCudaComputeCapability(nint device, out int major, out int minor);
    [LibraryImport(Lib)] public static partial NvmlReturn nvmlDeviceGetMigMode(nint device, out uint currentMode, out uint pendingMode);
    [LibraryImport(Lib)] public static partial NvmlReturn nvmlDeviceGetPersistenceMode(nint device, out int mode);
    [LibraryImport(Lib)] public static partial NvmlReturn nvmlDeviceGetTemperature(nint device, int sensorType, out uint temp);
    [LibraryImport(Lib)] public static partial NvmlReturn nvmlDeviceGetPowerUsage(nint device, out uint milliwatts);
    [LibraryImport(Lib)] public static partial NvmlReturn nvmlDeviceGetEnforcedPowerLimit(nint device, out uint milliwatts);
    [LibraryImport(Lib)] public static partial NvmlReturn nvmlDeviceGetClockInfo(nint device, int type, out uint mhz);
    [LibraryImport(Lib)] public static partial NvmlReturn nvmlDeviceGetMaxClockInfo(nint device, int type, out uint mhz);
    [LibraryImport(Lib)] public static partial NvmlReturn nvmlDeviceGetEccMode(nint device, out int current, out int pending);
    [LibraryImport(Lib)] public static partial NvmlReturn nvmlDeviceGetTotalEccErrors(nint device, int errorType, int counterType, out ulong eccCounts);
    [LibraryImport(Lib)] public static partial NvmlReturn nvmlDeviceGetRetiredPages(nint device, int cause, out uint pageCount, ulong* addresses);
    [LibraryImport(Lib)] public static partial NvmlReturn nvmlDeviceGetRetiredPagesPendingStatus(nint device, out int isPending);
    [LibraryImport(Lib)] public static partial NvmlReturn nvmlDeviceGetRemappedRows(nint device, out uint corrRows, out uint uncRows, out uint isPending, out uint failureOccurred);
    [LibraryImport(Lib)] public static partial NvmlReturn nvmlDeviceGetCurrentClocksEventReasons(nint device, out ulong reasons);
    [LibraryImport(Lib)] public static partial NvmlReturn nvmlDeviceGetCurrentClocksThrottleReasons(nint device, out ulong reasons);
    [LibraryImport(Lib)] public static partial NvmlReturn nvmlDeviceGetCurrPcieLinkGeneration(nint device, out uint gen);
    [LibraryImport(Lib)] public static partial NvmlReturn nvmlDeviceGetCurrPcieLinkWidth(nint device, out uint width);
    [LibraryImport(Lib)] public static partial NvmlReturn nvmlDeviceGetMaxPcieLinkGeneration(nint device, out uint gen);
    [LibraryImport(Lib)] public static partial NvmlReturn nvmlDeviceGetMaxPcieLinkWidth(nint device, out uint width);
    [LibraryImport(Lib)] public static partial NvmlReturn nvmlDeviceGetUtilizationRates(nint device, out nvmlUtilization_t utilization);

    // Enum values used by the wrappers (nvml.h).
    public const int NVML_TEMPERATURE_GPU = 0;
    public const int NVML_CLOCK_GRAPHICS = 0, NVML_CLOCK_SM = 1, NVML_CLOCK_MEM = 2;
    public const int NVML_MEMORY_ERROR_TYPE_CORRECTED = 0, NVML_MEMORY_ERROR_TYPE_UNCORRECTED = 1;
    public const int NVML_VOLATILE_ECC = 0, NVML_AGGREGATE_ECC = 1;
    public const int NVML_PAGE_RETIREMENT_CAUSE_MULTIPLE_SINGLE_BIT_ECC_ERRORS = 0, NVML_PAGE_RETIREMENT_CAUSE_DOUBLE_BIT_ECC_ERROR = 1;
}
