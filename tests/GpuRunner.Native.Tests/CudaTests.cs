using GpuRunner.Native.Cuda;

namespace GpuRunner.Native.Tests;

/// <summary>The CUDA wrappers against the fake libcuda (host memory stands in for device memory).</summary>
public class CudaTests
{
    public CudaTests() => _ = NativeEnvironment.Fakes;

    [Theory]
    [InlineData(100, "CUDA_ERROR_NO_DEVICE", "no CUDA-capable device is detected")]
    [InlineData(35, "CUDA_ERROR_INSUFFICIENT_DRIVER", "CUDA driver version is insufficient for CUDA runtime version")]
    [InlineData(999, "CUDA_ERROR_UNKNOWN", "unknown error")]
    public void ChokePointUsesTheDriversNameAndText(int code, string name, string text)
    {
        CudaDriver.Init();
        var e = Assert.Throws<CudaException>(() => CudaDriver.ThrowIfFailed((CUresult)code, "cuInit"));
        Assert.Equal((CUresult)code, e.Result);
        Assert.Equal(name, e.Name);
        Assert.Equal(text, e.Text);
        Assert.Equal($"cuInit failed: {name} ({text})", e.Message);
    }

    [Fact]
    public void CodeTheDriverCannotNameStillReadsWell()
    {
        CudaDriver.Init();
        var e = Assert.Throws<CudaException>(() => CudaDriver.ThrowIfFailed((CUresult)12345, "cuX"));
        Assert.Equal("CUresult 12345", e.Name);
    }

    [Fact]
    public void DeviceAttributesGiveTheTheoreticalBandwidth()
    {
        CudaDriver.Init();
        var device = CudaDevice.Get(0);
        Assert.Equal("NVIDIA A10G", device.Name);
        Assert.Equal((8, 6), device.ComputeCapability);
        Assert.Equal(80, device.MultiprocessorCount);
        // A10G: 6251 MHz GDDR6 x 384 bit = 600 GB/s (the spec sheet figure).
        Assert.Equal(600.1, device.TheoreticalBandwidthBytesPerSecond / 1e9, 1);
        Assert.Equal("GPU-0bad0000-0000-0000-0000-000000000000", device.Uuid);
        Assert.Equal("00000000:1E:00.0", device.PciBusId);
    }

    [Fact]
    public void VectorAddIsVerifiedAndAWrongResultIsCaught()
    {
        CudaDriver.Init();
        using var ctx = CudaDevice.Get(0).RetainPrimaryContext();
        var ok = VectorAdd.Run(1000);
        Assert.True(ok.Verified);
        Assert.Equal(1000, ok.Elements);

        using var _ = NativeEnvironment.Set("FAKE_CUDA_KERNEL", "wrong");
        var bad = VectorAdd.Run(1000);
        Assert.False(bad.Verified);
        Assert.Equal(1, bad.Mismatches);
        Assert.Equal("c[7] = 23, expected 22", bad.FirstMismatch);
    }

    [Fact]
    public void CopiesRoundTripAndOversizedCopiesAreRefused()
    {
        CudaDriver.Init();
        using var ctx = CudaDevice.Get(0).RetainPrimaryContext();
        using var a = DeviceMemory.Allocate(16);
        using var b = DeviceMemory.Allocate(16);
        a.CopyFrom<int>([1, 2, 3, 4]);
        b.CopyFrom(a, 16);
        var back = new int[4];
        b.CopyTo<int>(back);
        Assert.Equal([1, 2, 3, 4], back);
        Assert.Throws<ArgumentOutOfRangeException>(() => a.CopyFrom<int>(new int[5]));
    }

    [Fact]
    public void FormatsVersionsAndUuids()
    {
        Assert.Equal("13.0", CudaDriver.FormatVersion(13000));
        Assert.Equal("12.8", CudaDriver.FormatVersion(12080));
        Assert.Equal("GPU-4f831393-28e6-ee4d-4de5-c0bc73b3a6bd",
            CudaDevice.FormatUuid(Convert.FromHexString("4f83139328e6ee4d4de5c0bc73b3a6bd")));
    }
}
