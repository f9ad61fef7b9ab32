using GpuRunner.Native.Cuda;

namespace GpuRunner.Diagnostics.Checks;

/// <summary>The primary context of device 0 is created and 64 MiB are allocated, filled and read back.</summary>
public sealed class CudaMemoryCheck : ICheck
{
    private const int Mib = 64;

    public string Id => "cuda.memory";
    public string Title => "a context is created and memory allocated";
    public TimeSpan Deadline => TimeSpan.FromSeconds(20);
    public IReadOnlyList<string> Requires => ["cuda.init"];

    public CheckOutcome Run(CheckContext context)
    {
        if (!context.Passed("cuda.init")) return context.SkipBecause("cuda.init");
        if (context.CudaDeviceCount is not > 0) return CheckOutcome.Skip("skipped: CUDA sees no device");

        var device = CudaDevice.Get(0);
        var ctx = device.RetainPrimaryContext();
        context.Context = ctx;
        var (free, total) = ctx.MemoryInfo();
        const ulong bytes = Mib << 20;
        using var memory = DeviceMemory.Allocate(bytes);
        const uint pattern = 0xC0FFEE42;
        memory.Fill32(pattern, bytes / 4);
        var back = new uint[1 << 16];
        memory.CopyTo<uint>(back);
        var bad = Array.FindIndex(back, v => v != pattern);
        if (bad >= 0)
            return CheckOutcome.Fail($"{Mib} MiB filled with 0x{pattern:X8} but word {bad} reads 0x{back[bad]:X8}",
                new Diagnosis("gpu-memory-corrupt", "device memory did not hold what was written", "run gpurunner smoke (memory test); reset or replace the GPU"));
        return CheckOutcome.Pass($"{device.Name}: primary context on device 0, {Mib} MiB allocated, filled and read back; " +
            $"{free / (1 << 20):N0} MiB free of {total / (1 << 20):N0} MiB");
    }
}
