using System.Runtime.InteropServices;

namespace GpuRunner.Native.Nvml;

/// <summary>nvmlEventData_t (nvml.h). For an Xid event <see cref="eventData"/> is the Xid number (999 = unknown).</summary>
[StructLayout(LayoutKind.Sequential)]
public struct nvmlEventData_t
{
    public nint device;
    public ulong eventType;
    public ulong eventData;
    public uint gpuInstanceId, computeInstanceId;
}

/// <summary>nvmlProcessInfo_t (the v2 layout nvmlDeviceGetComputeRunningProcesses_v3 fills).</summary>
[StructLayout(LayoutKind.Sequential)]
public struct nvmlProcessInfo_t
{
    public uint pid;
    public ulong usedGpuMemory;
    public uint gpuInstanceId, computeInstanceId;
}

/// <summary>nvmlEventType* bits (nvml.h) that the GPU watch registers.</summary>
[Flags]
public enum NvmlEventType : ulong
{
    None = 0,
    SingleBitEccError = 0x1,
    DoubleBitEccError = 0x2,
    PState = 0x4,
    XidCriticalError = 0x8,
    Clock = 0x10,
    PowerSourceChange = 0x80,
    /// <summary>What the watch asks for; each device gets the part of it that it supports.</summary>
    Watched = SingleBitEccError | DoubleBitEccError | XidCriticalError | Clock | PowerSourceChange,
}

// Event and health imports, kept apart from the inventory's.
public static unsafe partial class NvmlNative
{
    [LibraryImport(Lib)] public static partial NvmlReturn nvmlEventSetCreate(out nint set);
    [LibraryImport(Lib)] public static partial NvmlReturn nvmlEventSetFree(nint set);
    [LibraryImport(Lib)] public static partial NvmlReturn nvmlDeviceGetSupportedEventTypes(nint device, out ulong eventTypes);
    [LibraryImport(Lib)] public static partial NvmlReturn nvmlDeviceRegisterEvents(nint device, ulong eventTypes, nint set);
    [LibraryImport(Lib)] public static partial NvmlReturn nvmlEventSetWait_v2(nint set, out nvmlEventData_t data, uint timeoutMs);
    [LibraryImport(Lib)] public static partial NvmlReturn nvmlDeviceGetPcieReplayCounter(nint device, out uint value);
    [LibraryImport(Lib)] public static partial NvmlReturn nvmlDeviceGetComputeRunningProcesses_v3(nint device, ref uint count, nvmlProcessInfo_t* infos);
}

/// <summary>One event as NVML delivered it: which device (by index), the type bit, and its data (the Xid number).</summary>
public readonly record struct NvmlEvent(int DeviceIndex, NvmlEventType Type, ulong Data);

/// <summary>
/// An NVML event set (nvmlEventSetCreate … nvmlEventSetFree). Freed exactly once, also when the owner forgets
/// (SafeHandle). Registration asks each device what it supports first: nvmlDeviceRegisterEvents refuses a mask with
/// one unsupported bit as a whole, and inside many containers nothing is supported.
/// </summary>
public sealed class NvmlEventSet : SafeHandle
{
    private readonly Dictionary<nint, int> _devices = [];

    private NvmlEventSet(nint set) : base(0, true) => SetHandle(set);

    public override bool IsInvalid => handle == 0;

    /// <summary>Creates an empty set. Throws NvmlException (e.g. NOT_SUPPORTED) or DriverSymbolMissingException.</summary>
    public static NvmlEventSet Create()
    {
        nint set = 0;
        Nvml.Check(Nvml.Call("nvmlEventSetCreate", () => NvmlNative.nvmlEventSetCreate(out set)), "nvmlEventSetCreate");
        return new NvmlEventSet(set);
    }

    /// <summary>
    /// Registers the supported part of <paramref name="wanted"/> for <paramref name="device"/>; returns what was
    /// registered (None when the device supports none of it). Other failures throw.
    /// </summary>
    public NvmlEventType Register(NvmlDevice device, NvmlEventType wanted)
    {
        ulong supported = 0;
        var r = Nvml.Call("nvmlDeviceGetSupportedEventTypes", () => NvmlNative.nvmlDeviceGetSupportedEventTypes(device.Handle, out supported));
        if (r == NvmlReturn.NotSupported) return NvmlEventType.None;
        Nvml.Check(r, "nvmlDeviceGetSupportedEventTypes");
        var mask = (NvmlEventType)supported & wanted;
        if (mask == NvmlEventType.None) return mask;
        Nvml.Check(Nvml.Call("nvmlDeviceRegisterEvents", () => NvmlNative.nvmlDeviceRegisterEvents(device.Handle, (ulong)mask, handle)),
            "nvmlDeviceRegisterEvents");
        _devices[device.Handle] = device.Index;
        return mask;
    }

    /// <summary>
    /// Waits up to <paramref name="timeoutMs"/> for the next event; null on NVML_ERROR_TIMEOUT. An Xid that NVML
    /// could not attribute to a device has index -1. Other failures throw (GPU_IS_LOST among them).
    /// </summary>
    public NvmlEvent? Wait(uint timeoutMs)
    {
        nvmlEventData_t data = default;
        var r = Nvml.Call("nvmlEventSetWait_v2", () => NvmlNative.nvmlEventSetWait_v2(handle, out data, timeoutMs));
        if (r == NvmlReturn.Timeout) return null;
        Nvml.Check(r, "nvmlEventSetWait_v2");
        return new NvmlEvent(_devices.GetValueOrDefault(data.device, -1), (NvmlEventType)data.eventType, data.eventData);
    }

    protected override bool ReleaseHandle()
    {
        try { return NvmlNative.nvmlEventSetFree(handle) == NvmlReturn.Success; }
        catch (EntryPointNotFoundException) { return false; }
    }
}

/// <summary>The health reads the fallback poll and the heartbeats add to <see cref="NvmlDevice"/>.</summary>
public static unsafe class NvmlHealthExtensions
{
    /// <summary>PCIe replay counter: link retries since the driver loaded; a rising one is a flaky link.</summary>
    public static Field<uint> PcieReplayCounter(this NvmlDevice device) => NvmlDevice.Read(() =>
        (NvmlNative.nvmlDeviceGetPcieReplayCounter(device.Handle, out var v), v));

    /// <summary>
    /// GPU memory (MiB) used by the processes among <paramref name="pids"/>, from per-process accounting. n/a when
    /// NVML cannot tell (no permission, a container whose pids NVML does not see, MIG): then NOT_FOUND.
    /// </summary>
    public static Field<long> ProcessMemoryMiB(this NvmlDevice device, IReadOnlySet<int> pids) => NvmlDevice.Read(() =>
    {
        const int Max = 64; // processes on one GPU: more are not summed
        var infos = stackalloc nvmlProcessInfo_t[Max];
        uint count = Max;
        var r = NvmlNative.nvmlDeviceGetComputeRunningProcesses_v3(device.Handle, ref count, infos);
        if (r != NvmlReturn.Success) return (r, 0L);
        ulong bytes = 0;
        var seen = false;
        for (var i = 0; i < (int)Math.Min(count, Max); i++)
        {
            if (!pids.Contains((int)infos[i].pid)) continue;
            seen = true;
            // NVML_VALUE_NOT_AVAILABLE (all ones) where the driver does not account per process.
            if (infos[i].usedGpuMemory != ulong.MaxValue) bytes += infos[i].usedGpuMemory;
        }
        return seen ? (NvmlReturn.Success, (long)(bytes >> 20)) : (NvmlReturn.NotFound, 0L);
    });

    /// <summary>The clock event reason bits (nvmlClocksEventReason*), with the older "Throttle" name as fallback.</summary>
    public static Field<ulong> ThrottleReasonBits(this NvmlDevice device)
    {
        var bits = NvmlDevice.Read(() => (NvmlNative.nvmlDeviceGetCurrentClocksEventReasons(device.Handle, out var r), r));
        if (!bits.HasValue && bits.Code == NvmlReturnNames.SymbolOf(NvmlReturn.FunctionNotFound))
            bits = NvmlDevice.Read(() => (NvmlNative.nvmlDeviceGetCurrentClocksThrottleReasons(device.Handle, out var r), r));
        return bits;
    }
}
