using System.Runtime.CompilerServices;
using GpuRunner.Native.Nvml;

namespace GpuRunner.Native.Tests;

/// <summary>The NVML wrappers against the fake library, in process.</summary>
public class NvmlTests
{
    public NvmlTests() => _ = NativeEnvironment.Fakes;

    [Fact]
    public void PciInfoLayoutMatchesNvmlH() => Assert.Equal(68, Unsafe.SizeOf<nvmlPciInfo_t>());

    [Fact]
    public void ReadsTheFakeA10G()
    {
        using var nvml = NvmlSession.Open();
        Assert.Equal("580.159.04", nvml.DriverVersion());
        Assert.Equal(13000, nvml.CudaDriverVersion());
        Assert.Equal(1, nvml.DeviceCount());
        var device = nvml.Device(0);
        Assert.Equal("NVIDIA A10G", device.Name().Value);
        Assert.Equal("00000000:1E:00.0", device.PciBusId().Value);
        Assert.Equal(23028UL << 20, device.Memory().Value.total);
        Assert.Equal((8, 6), device.ComputeCapability().Value);
        Assert.Equal(300.0, device.PowerLimitW().Value);
    }

    [Fact]
    public void MemoryComesFromV2WithTheReservationApart()
    {
        Assert.Equal(40, Unsafe.SizeOf<nvmlMemory_v2_t>());
        using var nvml = NvmlSession.Open();
        var memory = nvml.Device(0).Memory().Value;
        Assert.Equal(1UL << 20, memory.used);
        Assert.Equal(512UL << 20, memory.reserved);
        Assert.Equal(memory.total - memory.reserved - memory.used, memory.free);
    }

    [Fact]
    public void MemoryFallsBackToV1WhenV2IsRefused()
    {
        using var _ = NativeEnvironment.Set("FAKE_NVML_UNSUPPORTED", "memory_v2");
        using var nvml = NvmlSession.Open();
        var memory = nvml.Device(0).Memory().Value;
        Assert.Equal(513UL << 20, memory.used); // v1 counts the reservation as used
        Assert.Equal(0UL, memory.reserved);
    }

    [Fact]
    public void UnsupportedFieldIsNotAvailableWithItsCode()
    {
        using var _ = NativeEnvironment.Set("FAKE_NVML_UNSUPPORTED", "power,ecc");
        using var nvml = NvmlSession.Open();
        var device = nvml.Device(0);
        var power = device.PowerDrawW();
        Assert.False(power.HasValue);
        Assert.Equal("NVML_ERROR_NOT_SUPPORTED", power.Code);
        Assert.Equal("n/a (NVML_ERROR_NOT_SUPPORTED)", power.ToString());
        Assert.False(device.EccEnabled().HasValue);
        Assert.True(device.TemperatureC().HasValue);
    }

    [Fact]
    public void MissingSymbolFallsBackToTheOlderThrottleCall()
    {
        using var nvml = NvmlSession.Open();
        var reasons = nvml.Device(0).ThrottleReasons();
        Assert.True(reasons.HasValue);
        Assert.Equal(["gpu_idle"], reasons.Value!);
    }

    [Theory]
    [InlineData("LIB_RM_VERSION_MISMATCH", NvmlReturn.LibRmVersionMismatch, "NVML_ERROR_LIB_RM_VERSION_MISMATCH", "RM has detected an NVML/RM version mismatch.")]
    [InlineData("DRIVER_NOT_LOADED", NvmlReturn.DriverNotLoaded, "NVML_ERROR_DRIVER_NOT_LOADED", "Driver Not Loaded")]
    [InlineData("UNKNOWN", NvmlReturn.Unknown, "NVML_ERROR_UNKNOWN", "Unknown Error")]
    public void InitFailureCarriesCodeSymbolAndTheLibrarysText(string mode, NvmlReturn code, string symbol, string text)
    {
        using var _ = NativeEnvironment.Set("FAKE_NVML_INIT", mode);
        var e = Assert.Throws<NvmlException>(() => NvmlSession.Open());
        Assert.Equal(code, e.Code);
        Assert.Equal(symbol, e.Symbol);
        Assert.Equal(text, e.Text);
        Assert.Equal($"nvmlInit_v2 failed: {symbol} ({text})", e.Message);
    }

    [Fact]
    public void ThrottleBitsDecodeToNames()
    {
        Assert.Equal(["gpu_idle", "sw_power_cap", "hw_thermal_slowdown"], ThrottleReasonNames.Decode(0x1 | 0x4 | 0x40));
        Assert.Equal(["other_0x1000"], ThrottleReasonNames.Decode(0x1000));
        Assert.Empty(ThrottleReasonNames.Decode(0));
    }
}
