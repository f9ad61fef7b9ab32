using System.Runtime.InteropServices;

namespace GpuRunner.Native.Nvml;

/// <summary>nvmlMarginTemperature_v1_t: degrees left before the card's thermal limit (Hopper reports this as
/// "GPU T.Limit Temp" instead of an absolute slowdown threshold).</summary>
[StructLayout(LayoutKind.Sequential)]
public struct nvmlMarginTemperature_t
{
    /// <summary>NVML_STRUCT_VERSION(MarginTemperature, 1) = sizeof | 1 &lt;&lt; 24.</summary>
    public const uint Version1 = 8 | (1u << 24);
    public uint version;
    public int marginTemperature;
}

// Temperature thresholds for the smoke test's health check (kept apart from the inventory imports).
public static unsafe partial class NvmlNative
{
    public const int NVML_TEMPERATURE_THRESHOLD_SHUTDOWN = 0, NVML_TEMPERATURE_THRESHOLD_SLOWDOWN = 1;

    [LibraryImport(Lib)] public static partial NvmlReturn nvmlDeviceGetTemperatureThreshold(nint device, int thresholdType, out uint temp);
    [LibraryImport(Lib)] public static partial NvmlReturn nvmlDeviceGetMarginTemperature(nint device, ref nvmlMarginTemperature_t margin);
}

/// <summary>Threshold reads for NvmlDevice, as extensions so the device file stays the inventory's.</summary>
public static class NvmlThermalExtensions
{
    /// <summary>Absolute slowdown threshold in C (older cards; Hopper usually says NOT_SUPPORTED and gives a margin).</summary>
    public static Field<uint> SlowdownThresholdC(this NvmlDevice device) => NvmlDevice.Read(() =>
        (NvmlNative.nvmlDeviceGetTemperatureThreshold(device.Handle, NvmlNative.NVML_TEMPERATURE_THRESHOLD_SLOWDOWN, out var t), t));

    /// <summary>Degrees below the thermal limit (nvmlDeviceGetMarginTemperature, drivers 555+).</summary>
    public static Field<int> TemperatureMarginC(this NvmlDevice device) => NvmlDevice.Read(() =>
    {
        var m = new nvmlMarginTemperature_t { version = nvmlMarginTemperature_t.Version1 };
        var r = NvmlNative.nvmlDeviceGetMarginTemperature(device.Handle, ref m);
        return (r, m.marginTemperature);
    });
}
