using System.Diagnostics;

namespace GpuRunner.Native.Cuda;

/// <summary>What one vectorAdd run proved.</summary>
public sealed record VectorAddResult(int Elements, int Mismatches, double JitSeconds, double KernelMilliseconds, string? FirstMismatch)
{
    public bool Verified => Mismatches == 0;
}

/// <summary>
/// Loads the shipped PTX, runs vectorAdd on n floats and checks every element on the host. The inputs are
/// distinct per element so a kernel that wrote nothing, wrote zeros or mixed up indices cannot pass.
/// </summary>
public static class VectorAdd
{
    /// <summary>Needs a current context (see <see cref="CudaDevice.RetainPrimaryContext"/>).</summary>
    public static VectorAddResult Run(int n = 1 << 20)
    {
        var a = new float[n];
        var b = new float[n];
        for (var i = 0; i < n; i++) { a[i] = i; b[i] = 2f * i + 1f; }

        var jit = Stopwatch.StartNew();
        using var module = CudaModule.LoadPtx(Kernels.VectorAddPtx);
        var kernel = module.GetFunction(Kernels.VectorAddName);
        jit.Stop();

        var bytes = (ulong)n * sizeof(float);
        using var da = DeviceMemory.Allocate(bytes);
        using var db = DeviceMemory.Allocate(bytes);
        using var dc = DeviceMemory.Allocate(bytes);
        da.CopyFrom<float>(a);
        db.CopyFrom<float>(b);
        dc.Fill32(0xFFFFFFFF, (ulong)n); // NaN: an element the kernel skipped cannot look right

        using var start = CudaEvent.Create();
        using var end = CudaEvent.Create();
        using var args = new KernelArguments().Add(da).Add(db).Add(dc).Add(n);
        const uint block = 256;
        start.Record();
        kernel.Launch((uint)((n + block - 1) / block), block, args);
        end.Record();
        end.Synchronize();
        var ms = CudaEvent.ElapsedMilliseconds(start, end);

        var c = new float[n];
        dc.CopyTo<float>(c);
        var mismatches = 0;
        string? first = null;
        for (var i = 0; i < n; i++)
        {
            var expected = a[i] + b[i];
            if (c[i] == expected) continue;
            if (mismatches++ == 0) first = $"c[{i}] = {c[i]}, expected {expected}";
        }
        return new VectorAddResult(n, mismatches, jit.Elapsed.TotalSeconds, ms, first);
    }
}
