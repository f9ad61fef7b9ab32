using System.Runtime.InteropServices;

namespace GpuRunner.Native.Cuda;

/// <summary>CUresult (cuda.h). Only the values GpuRunner reasons about are named; any int is valid.</summary>
public enum CUresult
{
    CUDA_SUCCESS = 0,
    CUDA_ERROR_INVALID_VALUE = 1,
    CUDA_ERROR_OUT_OF_MEMORY = 2,
    CUDA_ERROR_NOT_INITIALIZED = 3,
    CUDA_ERROR_DEINITIALIZED = 4,
    CUDA_ERROR_STUB_LIBRARY = 34,
    CUDA_ERROR_INSUFFICIENT_DRIVER = 35,
    CUDA_ERROR_NO_DEVICE = 100,
    CUDA_ERROR_INVALID_DEVICE = 101,
    CUDA_ERROR_DEVICE_NOT_LICENSED = 102,
    CUDA_ERROR_INVALID_IMAGE = 200,
    CUDA_ERROR_INVALID_CONTEXT = 201,
    CUDA_ERROR_NO_BINARY_FOR_GPU = 209,
    CUDA_ERROR_ECC_UNCORRECTABLE = 214,
    CUDA_ERROR_UNSUPPORTED_PTX_VERSION = 222,
    CUDA_ERROR_INVALID_PTX = 218,
    CUDA_ERROR_NOT_FOUND = 500,
    CUDA_ERROR_LAUNCH_FAILED = 719,
    CUDA_ERROR_SYSTEM_NOT_READY = 802,
    CUDA_ERROR_SYSTEM_DRIVER_MISMATCH = 803,
    CUDA_ERROR_COMPAT_NOT_SUPPORTED_ON_DEVICE = 804,
    CUDA_ERROR_UNKNOWN = 999,
}

/// <summary>CUdevice_attribute values used here (cuda.h).</summary>
public enum CUdevice_attribute
{
    CU_DEVICE_ATTRIBUTE_MAX_THREADS_PER_BLOCK = 1,
    CU_DEVICE_ATTRIBUTE_CLOCK_RATE = 13,
    CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT = 16,
    CU_DEVICE_ATTRIBUTE_ECC_ENABLED = 32,
    CU_DEVICE_ATTRIBUTE_PCI_BUS_ID = 33,
    CU_DEVICE_ATTRIBUTE_PCI_DEVICE_ID = 34,
    CU_DEVICE_ATTRIBUTE_MEMORY_CLOCK_RATE = 36,
    CU_DEVICE_ATTRIBUTE_GLOBAL_MEMORY_BUS_WIDTH = 37,
    CU_DEVICE_ATTRIBUTE_L2_CACHE_SIZE = 38,
    CU_DEVICE_ATTRIBUTE_PCI_DOMAIN_ID = 50,
    CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR = 75,
    CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR = 76,
}

/// <summary>
/// Raw CUDA driver API entry points ("cuda" is resolved by NativeLoader). Names are the exported C symbols
/// (cuda.h maps e.g. cuMemAlloc to cuMemAlloc_v2). Use the wrappers in this namespace instead.
/// </summary>
public static unsafe partial class CudaNative
{
    private const string Lib = "cuda";

    [LibraryImport(Lib)] public static partial CUresult cuInit(uint flags);
    [LibraryImport(Lib)] public static partial CUresult cuDriverGetVersion(out int driverVersion);
    [LibraryImport(Lib)] public static partial CUresult cuGetErrorName(CUresult error, out byte* name);
    [LibraryImport(Lib)] public static partial CUresult cuGetErrorString(CUresult error, out byte* text);
    [LibraryImport(Lib)] public static partial CUresult cuDeviceGetCount(out int count);
    [LibraryImport(Lib)] public static partial CUresult cuDeviceGet(out int device, int ordinal);
    [LibraryImport(Lib)] public static partial CUresult cuDeviceGetName(byte* name, int length, int device);
    [LibraryImport(Lib)] public static partial CUresult cuDeviceTotalMem_v2(out nuint bytes, int device);
    [LibraryImport(Lib)] public static partial CUresult cuDeviceGetAttribute(out int value, CUdevice_attribute attribute, int device);
    [LibraryImport(Lib)] public static partial CUresult cuDeviceGetUuid(byte* uuid16, int device);
    [LibraryImport(Lib)] public static partial CUresult cuDeviceGetUuid_v2(byte* uuid16, int device);
    [LibraryImport(Lib)] public static partial CUresult cuDeviceCanAccessPeer(out int canAccess, int device, int peerDevice);

    [LibraryImport(Lib)] public static partial CUresult cuDevicePrimaryCtxRetain(out nint context, int device);
    [LibraryImport(Lib)] public static partial CUresult cuDevicePrimaryCtxRelease_v2(int device);
    [LibraryImport(Lib)] public static partial CUresult cuCtxSetCurrent(nint context);
    [LibraryImport(Lib)] public static partial CUresult cuCtxGetCurrent(out nint context);
    [LibraryImport(Lib)] public static partial CUresult cuCtxSynchronize();
    [LibraryImport(Lib)] public static partial CUresult cuCtxEnablePeerAccess(nint peerContext, uint flags);

    [LibraryImport(Lib)] public static partial CUresult cuMemGetInfo_v2(out nuint free, out nuint total);
    [LibraryImport(Lib)] public static partial CUresult cuMemAlloc_v2(out ulong devicePtr, nuint bytes);
    [LibraryImport(Lib)] public static partial CUresult cuMemFree_v2(ulong devicePtr);
    [LibraryImport(Lib)] public static partial CUresult cuMemAllocHost_v2(out nint hostPtr, nuint bytes);
    [LibraryImport(Lib)] public static partial CUresult cuMemFreeHost(nint hostPtr);
    [LibraryImport(Lib)] public static partial CUresult cuMemcpyHtoD_v2(ulong dst, void* src, nuint bytes);
    [LibraryImport(Lib)] public static partial CUresult cuMemcpyDtoH_v2(void* dst, ulong src, nuint bytes);
    [LibraryImport(Lib)] public static partial CUresult cuMemcpyDtoD_v2(ulong dst, ulong src, nuint bytes);
    [LibraryImport(Lib)] public static partial CUresult cuMemcpyHtoDAsync_v2(ulong dst, void* src, nuint bytes, nint stream);
    [LibraryImport(Lib)] public static partial CUresult cuMemcpyDtoHAsync_v2(void* dst, ulong src, nuint bytes, nint stream);
    [LibraryImport(Lib)] public static partial CUresult cuMemcpyDtoDAsync_v2(ulong dst, ulong src, nuint bytes, nint stream);
    [LibraryImport(Lib)] public static partial CUresult cuMemcpyPeer(ulong dst, nint dstContext, ulong src, nint srcContext, nuint bytes);
    [LibraryImport(Lib)] public static partial CUresult cuMemsetD32_v2(ulong dst, uint value, nuint count);
    [LibraryImport(Lib)] public static partial CUresult cuMemsetD8_v2(ulong dst, byte value, nuint count);

    [LibraryImport(Lib)] public static partial CUresult cuModuleLoadData(out nint module, void* image);
    [LibraryImport(Lib)] public static partial CUresult cuModuleUnload(nint module);
    [LibraryImport(Lib)] public static partial CUresult cuModuleGetFunction(out nint function, nint module, byte* name);
    [LibraryImport(Lib)] public static partial CUresult cuLaunchKernel(nint function,
        uint gridDimX, uint gridDimY, uint gridDimZ, uint blockDimX, uint blockDimY, uint blockDimZ,
        uint sharedMemBytes, nint stream, void** kernelParams, void** extra);

    [LibraryImport(Lib)] public static partial CUresult cuStreamCreate(out nint stream, uint flags);
    [LibraryImport(Lib)] public static partial CUresult cuStreamDestroy_v2(nint stream);
    [LibraryImport(Lib)] public static partial CUresult cuStreamSynchronize(nint stream);

    [LibraryImport(Lib)] public static partial CUresult cuEventCreate(out nint evt, uint flags);
    [LibraryImport(Lib)] public static partial CUresult cuEventRecord(nint evt, nint stream);
    [LibraryImport(Lib)] public static partial CUresult cuEventSynchronize(nint evt);
    [LibraryImport(Lib)] public static partial CUresult cuEventElapsedTime(out float milliseconds, nint start, nint end);
    [LibraryImport(Lib)] public static partial CUresult cuEventDestroy_v2(nint evt);
}
