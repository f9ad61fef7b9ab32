namespace GpuRunner.Native.Nvml;

/// <summary>
/// One GPU as NVML sees it. Every read returns a <see cref="Field{T}"/>: a value, or n/a with the NVML code
/// (NOT_SUPPORTED, NO_PERMISSION, FUNCTION_NOT_FOUND on an older driver …). Reads never throw.
/// </summary>
public sealed unsafe class NvmlDevice(int index, nint handle)
{
    public int Index { get; } = index;
    public nint Handle { get; } = handle;

    public Field<string> Name() => ReadString("nvmlDeviceGetName", (b, n) => NvmlNative.nvmlDeviceGetName(Handle, b, n));
    public Field<string> Uuid() => ReadString("nvmlDeviceGetUUID", (b, n) => NvmlNative.nvmlDeviceGetUUID(Handle, b, n));

    /// <summary>The PCI bus id as nvidia-smi prints it ("00000000:00:06.0").</summary>
    public Field<string> PciBusId() => Read("nvmlDeviceGetPciInfo_v3", () =>
    {
        var r = NvmlNative.nvmlDeviceGetPciInfo_v3(Handle, out var pci);
        return (r, Nvml.Utf8(pci.busId, 32));
    });

    /// <summary>
    /// nvmlDeviceGetMemoryInfo_v2 (what nvidia-smi shows), else v1 on drivers before 510 or where v2 is refused
    /// (reserved then reads 0 and used includes it).
    /// </summary>
    public Field<nvmlMemory_v2_t> Memory()
    {
        var v2 = Read("nvmlDeviceGetMemoryInfo_v2", () =>
        {
            var m = new nvmlMemory_v2_t { version = nvmlMemory_v2_t.Version };
            return (NvmlNative.nvmlDeviceGetMemoryInfo_v2(Handle, ref m), m);
        });
        if (v2.HasValue) return v2;
        return Read("nvmlDeviceGetMemoryInfo", () =>
        {
            var r = NvmlNative.nvmlDeviceGetMemoryInfo(Handle, out var m);
            return (r, new nvmlMemory_v2_t { total = m.total, free = m.free, used = m.used });
        });
    }

    public Field<(int Major, int Minor)> ComputeCapability() => Read("nvmlDeviceGetCudaComputeCapability", () =>
        (NvmlNative.nvmlDeviceGetCudaComputeCapability(Handle, out var major, out var minor), (major, minor)));

    /// <summary>Current MIG mode (1 = enabled).</summary>
    public Field<bool> MigEnabled() => Read("nvmlDeviceGetMigMode", () =>
        (NvmlNative.nvmlDeviceGetMigMode(Handle, out var current, out _), current == 1));

    public Field<bool> PersistenceEnabled() => Read("nvmlDeviceGetPersistenceMode", () =>
        (NvmlNative.nvmlDeviceGetPersistenceMode(Handle, out var mode), mode == 1));

    public Field<uint> TemperatureC() => Read("nvmlDeviceGetTemperature", () =>
        (NvmlNative.nvmlDeviceGetTemperature(Handle, NvmlNative.NVML_TEMPERATURE_GPU, out var t), t));

    public Field<double> PowerDrawW() => Read("nvmlDeviceGetPowerUsage", () =>
        (NvmlNative.nvmlDeviceGetPowerUsage(Handle, out var mw), mw / 1000.0));

    public Field<double> PowerLimitW() => Read("nvmlDeviceGetEnforcedPowerLimit", () =>
        (NvmlNative.nvmlDeviceGetEnforcedPowerLimit(Handle, out var mw), mw / 1000.0));

    public Field<uint> SmClockMHz() => Clock(NvmlNative.NVML_CLOCK_SM, max: false);
    public Field<uint> SmMaxClockMHz() => Clock(NvmlNative.NVML_CLOCK_SM, max: true);
    public Field<uint> MemClockMHz() => Clock(NvmlNative.NVML_CLOCK_MEM, max: false);
    public Field<uint> MemMaxClockMHz() => Clock(NvmlNative.NVML_CLOCK_MEM, max: true);

    private Field<uint> Clock(int type, bool max) => max
        ? Read("nvmlDeviceGetMaxClockInfo", () => (NvmlNative.nvmlDeviceGetMaxClockInfo(Handle, type, out var mhz), mhz))
        : Read("nvmlDeviceGetClockInfo", () => (NvmlNative.nvmlDeviceGetClockInfo(Handle, type, out var mhz), mhz));

    public Field<bool> EccEnabled() => Read("nvmlDeviceGetEccMode", () =>
        (NvmlNative.nvmlDeviceGetEccMode(Handle, out var current, out _), current == 1));

    public Field<ulong> EccErrors(bool uncorrected, bool aggregate) => Read("nvmlDeviceGetTotalEccErrors", () =>
        (NvmlNative.nvmlDeviceGetTotalEccErrors(Handle,
            uncorrected ? NvmlNative.NVML_MEMORY_ERROR_TYPE_UNCORRECTED : NvmlNative.NVML_MEMORY_ERROR_TYPE_CORRECTED,
            aggregate ? NvmlNative.NVML_AGGREGATE_ECC : NvmlNative.NVML_VOLATILE_ECC, out var count), count));

    /// <summary>Number of retired pages for a cause; asking with a zero-size buffer returns the count.</summary>
    public Field<uint> RetiredPages(bool doubleBit) => Read("nvmlDeviceGetRetiredPages", () =>
    {
        var r = NvmlNative.nvmlDeviceGetRetiredPages(Handle,
            doubleBit ? NvmlNative.NVML_PAGE_RETIREMENT_CAUSE_DOUBLE_BIT_ECC_ERROR
                      : NvmlNative.NVML_PAGE_RETIREMENT_CAUSE_MULTIPLE_SINGLE_BIT_ECC_ERRORS, out var count, null);
        return (r == NvmlReturn.InsufficientSize ? NvmlReturn.Success : r, count);
    });

    public Field<bool> RetiredPagesPending() => Read("nvmlDeviceGetRetiredPagesPendingStatus", () =>
        (NvmlNative.nvmlDeviceGetRetiredPagesPendingStatus(Handle, out var pending), pending == 1));

    public Field<(uint Corrected, uint Uncorrected, bool Pending, bool Failure)> RemappedRows() =>
        Read("nvmlDeviceGetRemappedRows", () =>
            (NvmlNative.nvmlDeviceGetRemappedRows(Handle, out var c, out var u, out var p, out var f), (c, u, p != 0, f != 0)));

    /// <summary>Why clocks are held down right now, as names (nvmlClocksEventReason*).</summary>
    public Field<IReadOnlyList<string>> ThrottleReasons()
    {
        // nvmlDeviceGetCurrentClocksEventReasons is the 12.x name; older drivers only have the "Throttle" one.
        var bits = Read("nvmlDeviceGetCurrentClocksEventReasons", () =>
            (NvmlNative.nvmlDeviceGetCurrentClocksEventReasons(Handle, out var r), r));
        if (!bits.HasValue && bits.Code == NvmlReturnNames.SymbolOf(NvmlReturn.FunctionNotFound))
            bits = Read("nvmlDeviceGetCurrentClocksThrottleReasons", () =>
                (NvmlNative.nvmlDeviceGetCurrentClocksThrottleReasons(Handle, out var r), r));
        return bits.Map(ThrottleReasonNames.Decode);
    }

    public Field<uint> PcieGen() => Read("nvmlDeviceGetCurrPcieLinkGeneration", () => (NvmlNative.nvmlDeviceGetCurrPcieLinkGeneration(Handle, out var v), v));
    public Field<uint> PcieGenMax() => Read("nvmlDeviceGetMaxPcieLinkGeneration", () => (NvmlNative.nvmlDeviceGetMaxPcieLinkGeneration(Handle, out var v), v));
    public Field<uint> PcieWidth() => Read("nvmlDeviceGetCurrPcieLinkWidth", () => (NvmlNative.nvmlDeviceGetCurrPcieLinkWidth(Handle, out var v), v));
    public Field<uint> PcieWidthMax() => Read("nvmlDeviceGetMaxPcieLinkWidth", () => (NvmlNative.nvmlDeviceGetMaxPcieLinkWidth(Handle, out var v), v));

    public Field<nvmlUtilization_t> Utilization() => Read("nvmlDeviceGetUtilizationRates", () =>
        (NvmlNative.nvmlDeviceGetUtilizationRates(Handle, out var u), u));

    private static Field<T> Read<T>(string function, Func<(NvmlReturn Result, T Value)> call) => Read(call);

    /// <summary>One NVML query as a field: its value, or why not (the NVML return's name; a symbol this driver lacks
    /// is NVML_ERROR_FUNCTION_NOT_FOUND).</summary>
    internal static Field<T> Read<T>(Func<(NvmlReturn Result, T Value)> call)
    {
        try
        {
            var (result, value) = call();
            return result == NvmlReturn.Success ? Field<T>.Of(value) : Field<T>.NotAvailable(NvmlReturnNames.SymbolOf(result));
        }
        catch (EntryPointNotFoundException)
        {
            return Field<T>.NotAvailable(NvmlReturnNames.SymbolOf(NvmlReturn.FunctionNotFound));
        }
    }

    private static Field<string> ReadString(string function, Nvml.StringCall call) => Read(function, () =>
    {
        var buffer = stackalloc byte[96];
        var r = call(buffer, 96);
        return (r, r == NvmlReturn.Success ? Nvml.Utf8(buffer, 96) : "");
    });
}

/// <summary>nvmlClocksEventReason* bits (nvml.h) as short names.</summary>
public static class ThrottleReasonNames
{
    private static readonly (ulong Bit, string Name)[] Bits =
    [
        (0x1, "gpu_idle"), (0x2, "applications_clocks_setting"), (0x4, "sw_power_cap"), (0x8, "hw_slowdown"),
        (0x10, "sync_boost"), (0x20, "sw_thermal_slowdown"), (0x40, "hw_thermal_slowdown"),
        (0x80, "hw_power_brake_slowdown"), (0x100, "display_clock_setting"),
    ];

    public static IReadOnlyList<string> Decode(ulong reasons)
    {
        var names = new List<string>();
        foreach (var (bit, name) in Bits)
            if ((reasons & bit) != 0) names.Add(name);
        var known = Bits.Aggregate(0UL, (a, b) => a | b.Bit);
        if ((reasons & ~known) != 0) names.Add($"other_0x{reasons & ~known:x}");
        return names;
    }
}
