using System.Runtime.InteropServices;
using System.Text;
using GpuRunner.Native.Loading;

namespace GpuRunner.Native.Nvml;

/// <summary>
/// An initialised NVML (nvmlInit_v2 … nvmlShutdown). NVML reference-counts init/shutdown, so sessions may nest.
/// </summary>
public sealed unsafe class NvmlSession : IDisposable
{
    private int _disposed;

    private NvmlSession(LoadResult library) => Library = library;

    public LoadResult Library { get; }

    /// <summary>Loads libnvidia-ml and initialises it. Throws DriverLibraryNotFoundException, NvmlException or DriverSymbolMissingException.</summary>
    public static NvmlSession Open()
    {
        var library = NativeLoader.Default.Nvml;
        if (!library.Loaded) throw new DriverLibraryNotFoundException(library);
        Nvml.Check(Nvml.Call("nvmlInit_v2", static () => NvmlNative.nvmlInit_v2()), "nvmlInit_v2");
        return new NvmlSession(library);
    }

    public string DriverVersion()
    {
        return Nvml.ReadString("nvmlSystemGetDriverVersion", static (b, n) => NvmlNative.nvmlSystemGetDriverVersion(b, n));
    }

    /// <summary>The highest CUDA version the driver supports, e.g. 13000 for 13.0.</summary>
    public int CudaDriverVersion()
    {
        int version = 0;
        Nvml.Check(Nvml.Call("nvmlSystemGetCudaDriverVersion_v2", () => NvmlNative.nvmlSystemGetCudaDriverVersion_v2(out version)), "nvmlSystemGetCudaDriverVersion_v2");
        return version;
    }

    public int DeviceCount()
    {
        uint count = 0;
        Nvml.Check(Nvml.Call("nvmlDeviceGetCount_v2", () => NvmlNative.nvmlDeviceGetCount_v2(out count)), "nvmlDeviceGetCount_v2");
        return (int)count;
    }

    public NvmlDevice Device(int index)
    {
        nint handle = 0;
        Nvml.Check(Nvml.Call("nvmlDeviceGetHandleByIndex_v2", () => NvmlNative.nvmlDeviceGetHandleByIndex_v2((uint)index, out handle)), "nvmlDeviceGetHandleByIndex_v2");
        return new NvmlDevice(index, handle);
    }

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 0)
            Nvml.Call("nvmlShutdown", static () => NvmlNative.nvmlShutdown());
    }
}

/// <summary>NVML's one error choke point and small helpers shared by the wrappers.</summary>
public static unsafe class Nvml
{
    /// <summary>Throws NvmlException with nvmlErrorString's text unless <paramref name="result"/> is success.</summary>
    public static void Check(NvmlReturn result, string function)
    {
        if (result != NvmlReturn.Success) throw new NvmlException(function, result, ErrorString(result));
    }

    public static string ErrorString(NvmlReturn result)
    {
        try
        {
            var text = NvmlNative.nvmlErrorString(result);
            return text == null ? "no description" : Marshal.PtrToStringUTF8((nint)text) ?? "no description";
        }
        catch (EntryPointNotFoundException) { return "no description (nvmlErrorString missing)"; }
    }

    /// <summary>Runs one import, turning a missing symbol into FunctionNotFound-like typed failure.</summary>
    internal static NvmlReturn Call(string function, Func<NvmlReturn> call)
    {
        try { return call(); }
        catch (EntryPointNotFoundException e) { throw new DriverSymbolMissingException("libnvidia-ml.so.1", function, e); }
    }

    internal delegate NvmlReturn StringCall(byte* buffer, uint length);

    /// <summary>Calls an NVML function that fills a char buffer (96 bytes covers every NVML string).</summary>
    internal static string ReadString(string function, StringCall call)
    {
        var buffer = stackalloc byte[96];
        Check(Call(function, () => call(buffer, 96)), function);
        return Utf8(buffer, 96);
    }

    internal static string Utf8(byte* buffer, int length)
    {
        var span = new ReadOnlySpan<byte>(buffer, length);
        var end = span.IndexOf((byte)0);
        return Encoding.UTF8.GetString(end < 0 ? span : span[..end]);
    }
}
