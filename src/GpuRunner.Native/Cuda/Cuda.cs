using System.Runtime.InteropServices;
using GpuRunner.Native.Loading;

namespace GpuRunner.Native.Cuda;

/// <summary>A CUDA driver call failed. Carries the CUresult, cuGetErrorName's name and cuGetErrorString's text.</summary>
public sealed class CudaException(string function, CUresult result, string name, string text)
    : Exception($"{function} failed: {name} ({text})")
{
    public string Function { get; } = function;
    public CUresult Result { get; } = result;
    /// <summary>e.g. CUDA_ERROR_NO_DEVICE.</summary>
    public string Name { get; } = name;
    /// <summary>e.g. "no CUDA-capable device is detected".</summary>
    public string Text { get; } = text;
}

/// <summary>The CUDA driver: the one error choke point, cuInit, versions and device count.</summary>
public static unsafe class CudaDriver
{
    /// <summary>Throws CudaException (with the driver's own name and text) unless <paramref name="result"/> is success.</summary>
    public static void ThrowIfFailed(CUresult result, string function)
    {
        if (result != CUresult.CUDA_SUCCESS)
            throw new CudaException(function, result, ErrorName(result), ErrorString(result));
    }

    public static string ErrorName(CUresult result)
    {
        try
        {
            if (CudaNative.cuGetErrorName(result, out var name) == CUresult.CUDA_SUCCESS && name != null)
                return Marshal.PtrToStringUTF8((nint)name) ?? Fallback(result);
        }
        catch (EntryPointNotFoundException) { }
        return Fallback(result);
    }

    public static string ErrorString(CUresult result)
    {
        try
        {
            if (CudaNative.cuGetErrorString(result, out var text) == CUresult.CUDA_SUCCESS && text != null)
                return Marshal.PtrToStringUTF8((nint)text) ?? "no description";
        }
        catch (EntryPointNotFoundException) { }
        return "no description from the driver";
    }

    /// <summary>Used only when the driver cannot name its own code (unknown values make cuGetErrorName fail).</summary>
    private static string Fallback(CUresult result) =>
        Enum.IsDefined(result) ? result.ToString() : $"CUresult {(int)result}";

    private static readonly Lock InitGate = new();
    private static bool _initialised;

    /// <summary>Loads libcuda.so.1 and calls cuInit(0) once per process (later calls are cheap no-ops).</summary>
    public static void Init()
    {
        lock (InitGate)
        {
            if (_initialised) return;
            var library = NativeLoader.Default.Cuda;
            if (!library.Loaded) throw new DriverLibraryNotFoundException(library);
            ThrowIfFailed(Call("cuInit", static () => CudaNative.cuInit(0)), "cuInit");
            _initialised = true;
        }
    }

    public static LoadResult Library => NativeLoader.Default.Cuda;

    /// <summary>The highest CUDA version the driver supports, e.g. 13000.</summary>
    public static int DriverVersion()
    {
        var version = 0;
        ThrowIfFailed(Call("cuDriverGetVersion", () => CudaNative.cuDriverGetVersion(out version)), "cuDriverGetVersion");
        return version;
    }

    public static int DeviceCount()
    {
        var count = 0;
        ThrowIfFailed(Call("cuDeviceGetCount", () => CudaNative.cuDeviceGetCount(out count)), "cuDeviceGetCount");
        return count;
    }

    /// <summary>"13.0" from 13000.</summary>
    public static string FormatVersion(int version) => $"{version / 1000}.{version % 1000 / 10}";

    /// <summary>Runs one import; a symbol missing from libcuda becomes a typed DriverSymbolMissingException.</summary>
    public static CUresult Call(string function, Func<CUresult> call)
    {
        try { return call(); }
        catch (EntryPointNotFoundException e) { throw new DriverSymbolMissingException("libcuda.so.1", function, e); }
    }
}
