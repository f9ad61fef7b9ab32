using System.Runtime.InteropServices;
using System.Text;

namespace GpuRunner.Native.Cuda;

/// <summary>A retained primary context (cuDevicePrimaryCtxRetain … Release). Make it current before use.</summary>
public sealed class CudaContext : SafeHandle
{
    public int Device { get; }

    private CudaContext(nint context, int device) : base(0, true) { SetHandle(context); Device = device; }

    public override bool IsInvalid => handle == 0;

    public static CudaContext RetainPrimary(int device)
    {
        nint context = 0;
        CudaDriver.ThrowIfFailed(CudaDriver.Call("cuDevicePrimaryCtxRetain",
            () => CudaNative.cuDevicePrimaryCtxRetain(out context, device)), "cuDevicePrimaryCtxRetain");
        var ctx = new CudaContext(context, device);
        ctx.MakeCurrent();
        return ctx;
    }

    /// <summary>Binds this context to the calling thread (CUDA contexts are per thread).</summary>
    public void MakeCurrent() =>
        CudaDriver.ThrowIfFailed(CudaNative.cuCtxSetCurrent(handle), "cuCtxSetCurrent");

    public void Synchronize() => CudaDriver.ThrowIfFailed(CudaNative.cuCtxSynchronize(), "cuCtxSynchronize");

    public (ulong FreeBytes, ulong TotalBytes) MemoryInfo()
    {
        CudaDriver.ThrowIfFailed(CudaNative.cuMemGetInfo_v2(out var free, out var total), "cuMemGetInfo_v2");
        return (free, total);
    }

    /// <summary>Lets this (current) context access <paramref name="peer"/>'s memory.</summary>
    public void EnablePeerAccess(CudaContext peer) =>
        CudaDriver.ThrowIfFailed(CudaNative.cuCtxEnablePeerAccess(peer.handle, 0), "cuCtxEnablePeerAccess");

    protected override bool ReleaseHandle() => CudaNative.cuDevicePrimaryCtxRelease_v2(Device) == CUresult.CUDA_SUCCESS;
}

/// <summary>Device memory from cuMemAlloc_v2, freed with cuMemFree_v2 in its own context.</summary>
public sealed unsafe class DeviceMemory : SafeHandle
{
    private readonly nint _context;

    private DeviceMemory(ulong pointer, ulong bytes, nint context) : base(0, true)
    {
        SetHandle((nint)pointer);
        Bytes = bytes;
        _context = context;
    }

    public ulong Pointer => (ulong)handle;
    public ulong Bytes { get; }
    public override bool IsInvalid => handle == 0;

    /// <summary>Allocates in the calling thread's current context.</summary>
    public static DeviceMemory Allocate(ulong bytes)
    {
        CudaDriver.ThrowIfFailed(CudaNative.cuMemAlloc_v2(out var pointer, (nuint)bytes), "cuMemAlloc_v2");
        CudaDriver.ThrowIfFailed(CudaNative.cuCtxGetCurrent(out var context), "cuCtxGetCurrent");
        return new DeviceMemory(pointer, bytes, context);
    }

    public void CopyFrom<T>(ReadOnlySpan<T> source) where T : unmanaged
    {
        CheckSize((ulong)source.Length * (ulong)sizeof(T));
        fixed (T* p = source)
            CudaDriver.ThrowIfFailed(CudaNative.cuMemcpyHtoD_v2(Pointer, p, (nuint)(source.Length * sizeof(T))), "cuMemcpyHtoD_v2");
    }

    /// <summary>Copies to the host from <paramref name="offsetBytes"/> into the allocation.</summary>
    public void CopyTo<T>(Span<T> destination, ulong offsetBytes = 0) where T : unmanaged
    {
        CheckSize(offsetBytes + (ulong)destination.Length * (ulong)sizeof(T));
        fixed (T* p = destination)
            CudaDriver.ThrowIfFailed(CudaNative.cuMemcpyDtoH_v2(p, Pointer + offsetBytes, (nuint)(destination.Length * sizeof(T))), "cuMemcpyDtoH_v2");
    }

    public void CopyFrom(DeviceMemory source, ulong bytes)
    {
        CheckSize(bytes);
        CudaDriver.ThrowIfFailed(CudaNative.cuMemcpyDtoD_v2(Pointer, source.Pointer, (nuint)bytes), "cuMemcpyDtoD_v2");
    }

    public void CopyFromAsync(PinnedMemory source, ulong bytes, CudaStream stream)
    {
        CheckSize(bytes);
        CudaDriver.ThrowIfFailed(CudaNative.cuMemcpyHtoDAsync_v2(Pointer, (void*)source.Pointer, (nuint)bytes, stream.DangerousGetHandle()), "cuMemcpyHtoDAsync_v2");
    }

    public void CopyToAsync(PinnedMemory destination, ulong bytes, CudaStream stream)
    {
        CheckSize(bytes);
        CudaDriver.ThrowIfFailed(CudaNative.cuMemcpyDtoHAsync_v2((void*)destination.Pointer, Pointer, (nuint)bytes, stream.DangerousGetHandle()), "cuMemcpyDtoHAsync_v2");
    }

    public void CopyFromAsync(DeviceMemory source, ulong bytes, CudaStream stream)
    {
        CheckSize(bytes);
        CudaDriver.ThrowIfFailed(CudaNative.cuMemcpyDtoDAsync_v2(Pointer, source.Pointer, (nuint)bytes, stream.DangerousGetHandle()), "cuMemcpyDtoDAsync_v2");
    }

    /// <summary>Copies from memory of another device's context (cuMemcpyPeer).</summary>
    public void CopyFromPeer(CudaContext destinationContext, DeviceMemory source, CudaContext sourceContext, ulong bytes)
    {
        CheckSize(bytes);
        CudaDriver.ThrowIfFailed(CudaNative.cuMemcpyPeer(Pointer, destinationContext.DangerousGetHandle(), source.Pointer,
            sourceContext.DangerousGetHandle(), (nuint)bytes), "cuMemcpyPeer");
    }

    /// <summary>Fills <paramref name="count"/> 32-bit words.</summary>
    public void Fill32(uint value, ulong count)
    {
        CheckSize(count * 4);
        CudaDriver.ThrowIfFailed(CudaNative.cuMemsetD32_v2(Pointer, value, (nuint)count), "cuMemsetD32_v2");
    }

    public void Fill8(byte value, ulong count)
    {
        CheckSize(count);
        CudaDriver.ThrowIfFailed(CudaNative.cuMemsetD8_v2(Pointer, value, (nuint)count), "cuMemsetD8_v2");
    }

    private void CheckSize(ulong bytes)
    {
        if (bytes > Bytes) throw new ArgumentOutOfRangeException(nameof(bytes), $"{bytes} bytes exceed the {Bytes}-byte allocation");
    }

    protected override bool ReleaseHandle()
    {
        // Finalizers run on a thread with no current context: bind ours before freeing.
        if (_context != 0) CudaNative.cuCtxSetCurrent(_context);
        return CudaNative.cuMemFree_v2((ulong)handle) == CUresult.CUDA_SUCCESS;
    }
}

/// <summary>Page-locked host memory (cuMemAllocHost_v2 / cuMemFreeHost) for full-speed and async copies.</summary>
public sealed unsafe class PinnedMemory : SafeHandle
{
    private PinnedMemory(nint pointer, ulong bytes) : base(0, true) { SetHandle(pointer); Bytes = bytes; }

    public nint Pointer => handle;
    public ulong Bytes { get; }
    public override bool IsInvalid => handle == 0;

    public static PinnedMemory Allocate(ulong bytes)
    {
        CudaDriver.ThrowIfFailed(CudaNative.cuMemAllocHost_v2(out var pointer, (nuint)bytes), "cuMemAllocHost_v2");
        return new PinnedMemory(pointer, bytes);
    }

    /// <summary>A view of the buffer (at most int.MaxValue elements); valid while this object lives.</summary>
    public Span<T> AsSpan<T>() where T : unmanaged =>
        new((void*)handle, (int)Math.Min(Bytes / (ulong)sizeof(T), int.MaxValue));

    protected override bool ReleaseHandle() => CudaNative.cuMemFreeHost(handle) == CUresult.CUDA_SUCCESS;
}

/// <summary>A loaded module (cuModuleLoadData of PTX or cubin).</summary>
public sealed unsafe class CudaModule : SafeHandle
{
    private CudaModule(nint module) : base(0, true) => SetHandle(module);
    public override bool IsInvalid => handle == 0;

    /// <summary>Loads PTX text; the driver JIT-compiles it for the current device.</summary>
    public static CudaModule LoadPtx(string ptx)
    {
        var bytes = Encoding.ASCII.GetBytes(ptx + "\0");
        fixed (byte* image = bytes)
        {
            CudaDriver.ThrowIfFailed(CudaNative.cuModuleLoadData(out var module, image), "cuModuleLoadData");
            return new CudaModule(module);
        }
    }

    public CudaFunction GetFunction(string name)
    {
        var bytes = Encoding.ASCII.GetBytes(name + "\0");
        fixed (byte* p = bytes)
        {
            CudaDriver.ThrowIfFailed(CudaNative.cuModuleGetFunction(out var function, handle, p), "cuModuleGetFunction");
            return new CudaFunction(function, name);
        }
    }

    protected override bool ReleaseHandle() => CudaNative.cuModuleUnload(handle) == CUresult.CUDA_SUCCESS;
}

/// <summary>A kernel in a loaded module; valid while the module lives.</summary>
public readonly unsafe struct CudaFunction(nint handle, string name)
{
    public nint Handle { get; } = handle;
    public string Name { get; } = name;

    /// <summary>cuLaunchKernel with 1-D grid and block; the arguments are passed by address as the driver expects.</summary>
    public void Launch(uint gridX, uint blockX, KernelArguments arguments, CudaStream? stream = null, uint sharedMemBytes = 0) =>
        Launch((gridX, 1, 1), (blockX, 1, 1), arguments, stream, sharedMemBytes);

    public void Launch((uint X, uint Y, uint Z) grid, (uint X, uint Y, uint Z) block, KernelArguments arguments,
        CudaStream? stream = null, uint sharedMemBytes = 0) =>
        CudaDriver.ThrowIfFailed(CudaNative.cuLaunchKernel(Handle, grid.X, grid.Y, grid.Z, block.X, block.Y, block.Z,
            sharedMemBytes, stream?.DangerousGetHandle() ?? 0, arguments.Pointers, null), "cuLaunchKernel");
}

/// <summary>
/// Kernel parameters laid out for cuLaunchKernel: each value copied into native memory, plus the array of
/// pointers to them (kernelParams). Values are 8-byte aligned, enough for every scalar and pointer type.
/// </summary>
public sealed unsafe class KernelArguments : IDisposable
{
    private const int Slot = 16;
    private readonly int _capacity;
    private byte* _values;
    private void** _pointers;
    private int _count;

    public KernelArguments(int capacity = 16)
    {
        _capacity = capacity;
        _values = (byte*)NativeMemory.AlignedAlloc((nuint)(capacity * Slot), 16);
        _pointers = (void**)NativeMemory.Alloc((nuint)(capacity * sizeof(void*)));
    }

    public KernelArguments Add<T>(T value) where T : unmanaged
    {
        if (sizeof(T) > Slot) throw new ArgumentException($"{typeof(T).Name} is larger than {Slot} bytes");
        if (_count == _capacity) throw new InvalidOperationException($"more than {_capacity} kernel arguments");
        var slot = _values + _count * Slot;
        *(T*)slot = value;
        _pointers[_count++] = slot;
        return this;
    }

    public KernelArguments Add(DeviceMemory memory) => Add(memory.Pointer);

    internal void** Pointers => _pointers;

    public void Dispose()
    {
        if (_values == null) return;
        NativeMemory.AlignedFree(_values);
        NativeMemory.Free(_pointers);
        _values = null;
        _pointers = null;
    }
}

public sealed class CudaStream : SafeHandle
{
    private CudaStream(nint stream) : base(0, true) => SetHandle(stream);
    public override bool IsInvalid => handle == 0;

    /// <summary>flags: 0 = default, 1 = CU_STREAM_NON_BLOCKING.</summary>
    public static CudaStream Create(uint flags = 0)
    {
        CudaDriver.ThrowIfFailed(CudaNative.cuStreamCreate(out var stream, flags), "cuStreamCreate");
        return new CudaStream(stream);
    }

    public void Synchronize() => CudaDriver.ThrowIfFailed(CudaNative.cuStreamSynchronize(handle), "cuStreamSynchronize");
    protected override bool ReleaseHandle() => CudaNative.cuStreamDestroy_v2(handle) == CUresult.CUDA_SUCCESS;
}

public sealed class CudaEvent : SafeHandle
{
    private CudaEvent(nint evt) : base(0, true) => SetHandle(evt);
    public override bool IsInvalid => handle == 0;

    public static CudaEvent Create(uint flags = 0)
    {
        CudaDriver.ThrowIfFailed(CudaNative.cuEventCreate(out var evt, flags), "cuEventCreate");
        return new CudaEvent(evt);
    }

    /// <summary>Records on <paramref name="stream"/> (null = the legacy default stream).</summary>
    public void Record(CudaStream? stream = null) =>
        CudaDriver.ThrowIfFailed(CudaNative.cuEventRecord(handle, stream?.DangerousGetHandle() ?? 0), "cuEventRecord");

    public void Synchronize() => CudaDriver.ThrowIfFailed(CudaNative.cuEventSynchronize(handle), "cuEventSynchronize");

    /// <summary>Milliseconds between two recorded events (both must have completed).</summary>
    public static float ElapsedMilliseconds(CudaEvent start, CudaEvent end)
    {
        CudaDriver.ThrowIfFailed(CudaNative.cuEventElapsedTime(out var ms, start.handle, end.handle), "cuEventElapsedTime");
        return ms;
    }

    protected override bool ReleaseHandle() => CudaNative.cuEventDestroy_v2(handle) == CUresult.CUDA_SUCCESS;
}
