using System.Runtime.InteropServices;

namespace GpuRunner.Diagnostics.Frameworks;

/// <summary>One shared library the dynamic loader could or could not open, and where it came from.</summary>
public sealed record LibraryProbe(string Name, bool Found, string Detail);

/// <summary>
/// Tries to dlopen the CUDA 13 libraries ONNX Runtime's CUDA provider needs, the way the provider itself will
/// (default loader search: LD_LIBRARY_PATH, ldconfig cache, system folders), and says which are missing.
/// </summary>
public static class CudaLibraryProbe
{
    /// <summary>What libonnxruntime_providers_cuda.so (1.31, CUDA 13 build) links against, besides the driver.</summary>
    public static readonly string[] OrtCudaLibraries =
        ["libcublasLt.so.13", "libcublas.so.13", "libcurand.so.10", "libcudart.so.13", "libcudnn.so.9"];

    public static IReadOnlyList<LibraryProbe> Probe(IEnumerable<string>? names = null) =>
        [.. (names ?? OrtCudaLibraries).Select(ProbeOne)];

    public static LibraryProbe ProbeOne(string name)
    {
        try
        {
            var handle = NativeLibrary.Load(name);
            var path = LoadedPath(name) ?? "loaded";
            NativeLibrary.Free(handle);
            return new(name, true, path);
        }
        catch (DllNotFoundException e)
        {
            return new(name, false, DlError(e.Message, name));
        }
        catch (BadImageFormatException e)
        {
            return new(name, false, e.Message);
        }
    }

    /// <summary>Where the loader found a library, from /proc/self/maps (null when not mapped or not Linux).</summary>
    public static string? LoadedPath(string name)
    {
        if (!OperatingSystem.IsLinux()) return null;
        try
        {
            foreach (var line in File.ReadLines("/proc/self/maps"))
            {
                var slash = line.IndexOf('/');
                if (slash < 0) continue;
                var path = line[slash..];
                if (Path.GetFileName(path).StartsWith(name, StringComparison.Ordinal)) return path;
            }
        }
        catch (IOException) { }
        return null;
    }

    /// <summary>The loader's own sentence (dlerror) out of .NET's long DllNotFoundException message.</summary>
    internal static string DlError(string message, string name)
    {
        // .NET prefixes "Unable to load shared library ... consider setting the LD_DEBUG environment variable:" and
        // then lists dlerror's text for every path it tried; the line that mentions our library is the verdict.
        const string preamble = "environment variable:";
        var at = message.IndexOf(preamble, StringComparison.Ordinal);
        var tail = at >= 0 ? message[(at + preamble.Length)..] : message;
        var lines = tail.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        var line = lines.FirstOrDefault(l => l.Contains(name, StringComparison.Ordinal)) ?? lines.FirstOrDefault() ?? message.Trim();
        return line.Length > 400 ? line[..400] + "…" : line;
    }
}
